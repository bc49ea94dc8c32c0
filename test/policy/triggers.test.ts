import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Monitor } from '../../src/monitor/monitor.js';
import type { TriggerSpec } from '../../src/policy/types.js';
import {
  StageTriggerTracker,
  triggerFiresAt,
  triggerHolds,
  type TriggerInput,
  type TriggerState,
} from '../../src/policy/triggers.js';
import type { PollSample } from '../../src/ups/types.js';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const S = 1000;
const MIN = 60 * S;

const ONLINE: TriggerState = { onBattery: false, fsd: false, criticalReasons: [] };
const onBattery = (since: number): TriggerState => ({ onBattery: true, onBatterySince: since, fsd: false, criticalReasons: [] });

function input(state: TriggerState, now: number, variables: Record<string, string> = {}, manual?: boolean): TriggerInput {
  return manual === undefined ? { state, variables, now } : { state, variables, now, manual };
}

test('on_battery_for holds after the duration on battery, and never on line power', () => {
  const spec: TriggerSpec = { on_battery_for: 5 * MIN };
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + 5 * MIN - 1)), false);
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + 5 * MIN)), true);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0 + MIN)), T0 + 5 * MIN);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0 + 6 * MIN)), T0 + 6 * MIN, 'holds already: now');
  assert.equal(triggerHolds(spec, input(ONLINE, T0 + 10 * MIN)), false);
  assert.equal(triggerFiresAt(spec, input(ONLINE, T0 + 10 * MIN)), undefined);
});

test('charge_below and runtime_below are strict thresholds read on battery only', () => {
  const charge: TriggerSpec = { charge_below: 50 };
  assert.equal(triggerHolds(charge, input(onBattery(T0), T0, { 'battery.charge': '49' })), true);
  assert.equal(triggerHolds(charge, input(onBattery(T0), T0, { 'battery.charge': '50' })), false);
  assert.equal(triggerHolds(charge, input(ONLINE, T0, { 'battery.charge': '12' })), false, 'recharging after the outage');
  assert.equal(triggerHolds(charge, input(onBattery(T0), T0, {})), false, 'unknown charge');
  assert.equal(triggerHolds(charge, input(onBattery(T0), T0, { 'battery.charge': 'n/a' })), false);

  const runtime: TriggerSpec = { runtime_below: 5 * MIN };
  assert.equal(triggerHolds(runtime, input(onBattery(T0), T0, { 'battery.runtime': '299' })), true);
  assert.equal(triggerHolds(runtime, input(onBattery(T0), T0, { 'battery.runtime': '300' })), false);
  assert.equal(triggerHolds(runtime, input(onBattery(T0), T0, { 'battery.runtime': ' 120 ' })), true);
  assert.equal(triggerHolds(runtime, input(ONLINE, T0, { 'battery.runtime': '10' })), false);
  assert.equal(triggerFiresAt(runtime, input(onBattery(T0), T0, { 'battery.runtime': '900' })), undefined, 'time alone will not fire it');
});

test('low_battery, comm_lost_on_battery and fsd read the monitor critical state', () => {
  const lb: TriggerState = { ...onBattery(T0), criticalReasons: ['low battery'] };
  const dead: TriggerState = { ...onBattery(T0), criticalReasons: ['dead on battery'] };
  const fsd: TriggerState = { ...ONLINE, fsd: true, criticalReasons: ['forced shutdown'] };
  assert.equal(triggerHolds({ low_battery: true }, input(lb, T0)), true);
  assert.equal(triggerHolds({ low_battery: true }, input(dead, T0)), true, 'DEADTIME counts as low battery');
  assert.equal(triggerHolds({ low_battery: true }, input(onBattery(T0), T0)), false);
  assert.equal(triggerHolds({ comm_lost_on_battery: true }, input(dead, T0)), true);
  assert.equal(triggerHolds({ comm_lost_on_battery: true }, input(lb, T0)), false);
  assert.equal(triggerHolds({ fsd: true }, input(fsd, T0)), true);
  assert.equal(triggerHolds({ fsd: true }, input(lb, T0)), false);
});

test('the monitor feeds the triggers: OB+LB, calibration and DEADTIME', () => {
  const poll = (time: number, status: string): PollSample => ({ time, ok: true, stale: false, status, variables: {} });
  const m = new Monitor({ ups: 'ippon' });
  m.observe(poll(T0, 'OB LB CAL'));
  assert.equal(triggerHolds({ low_battery: true }, input(m.state, T0)), false, 'a battery test is not an outage');
  m.observe(poll(T0 + 2 * S, 'OB LB'));
  assert.equal(triggerHolds({ low_battery: true }, input(m.state, T0 + 2 * S)), true);
  m.observe(poll(T0 + 4 * S, 'OB'));
  m.tick(T0 + 20 * S);
  assert.equal(triggerHolds({ comm_lost_on_battery: true }, input(m.state, T0 + 20 * S)), true);
  assert.equal(triggerHolds({ low_battery: true }, input(m.state, T0 + 20 * S)), true);
});

test('manual holds only when the operator fired the stage', () => {
  assert.equal(triggerHolds({ manual: true }, input(onBattery(T0), T0 + 60 * MIN)), false);
  assert.equal(triggerHolds({ manual: true }, input(ONLINE, T0, {}, true)), true);
  assert.equal(triggerFiresAt({ manual: true }, input(onBattery(T0), T0)), undefined);
});

test('several keys in one object must all hold', () => {
  const spec: TriggerSpec = { on_battery_for: MIN, charge_below: 80 };
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + MIN, { 'battery.charge': '90' })), false);
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + 30 * S, { 'battery.charge': '70' })), false);
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + MIN, { 'battery.charge': '70' })), true);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0, { 'battery.charge': '90' })), undefined);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0, { 'battery.charge': '70' })), T0 + MIN);
});

test('any/all nest, and firesAt picks the countdown that decides', () => {
  const spec: TriggerSpec = {
    any: [
      { on_battery_for: 10 * MIN },
      { all: [{ on_battery_for: 2 * MIN }, { any: [{ charge_below: 50 }, { runtime_below: 5 * MIN }] }] },
      { low_battery: true },
    ],
  };
  const full = { 'battery.charge': '90', 'battery.runtime': '1200' };
  const low = { 'battery.charge': '40', 'battery.runtime': '1200' };
  const short = { 'battery.charge': '90', 'battery.runtime': '200' };
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0, full)), T0 + 10 * MIN);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0, low)), T0 + 2 * MIN);
  assert.equal(triggerFiresAt(spec, input(onBattery(T0), T0, short)), T0 + 2 * MIN);
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + 2 * MIN, full)), false);
  assert.equal(triggerHolds(spec, input(onBattery(T0), T0 + 2 * MIN, low)), true);
  assert.equal(triggerHolds(spec, input({ ...onBattery(T0), criticalReasons: ['low battery'] }, T0, full)), true);
  assert.equal(triggerHolds(spec, input(ONLINE, T0 + 60 * MIN, low)), false);

  const both: TriggerSpec = { all: [{ on_battery_for: MIN }, { on_battery_for: 3 * MIN }] };
  assert.equal(triggerFiresAt(both, input(onBattery(T0), T0)), T0 + 3 * MIN);
});

test('an empty trigger never fires', () => {
  const state = { ...onBattery(T0), fsd: true, criticalReasons: ['forced shutdown' as const] };
  for (const spec of [{}, { any: [] }, { all: [] }, { low_battery: false }, { all: [{}] }] as TriggerSpec[]) {
    assert.equal(triggerHolds(spec, input(state, T0 + 60 * MIN, {}, true)), false, JSON.stringify(spec));
  }
});

const STAGES = [
  { name: 'shed', trigger: { on_battery_for: 2 * MIN } },
  { name: 'shutdown', trigger: { any: [{ low_battery: true }, { runtime_below: 5 * MIN }] } },
  { name: 'maintenance', trigger: { manual: true } },
];

test('tracker: the on_battery_for countdown shows, is cancelled by power return and restarts', () => {
  const tracker = new StageTriggerTracker(STAGES);
  const vars = { 'battery.charge': '95', 'battery.runtime': '1500' };
  assert.deepEqual(tracker.update({ state: onBattery(T0), variables: vars, now: T0 }), []);
  assert.equal(tracker.nextCheckAt(T0), T0 + 2 * MIN);
  assert.deepEqual(
    tracker.countdowns(T0 + 108 * S).map((c) => [c.stage, c.remainingMs, c.text]),
    [['shed', 12 * S, 'shed in 12s']],
  );
  assert.equal(tracker.countdowns(T0 + 119_500)[0]!.text, 'shed in 1s', 'rounded up');

  assert.deepEqual(tracker.update({ state: ONLINE, variables: vars, now: T0 + MIN }), []);
  assert.deepEqual(tracker.countdowns(T0 + MIN), [], 'power return cancels the countdown');
  assert.equal(tracker.nextCheckAt(T0 + MIN), undefined);
  assert.deepEqual(tracker.update({ state: ONLINE, variables: vars, now: T0 + 3 * MIN }), []);

  const again = T0 + 4 * MIN;
  assert.deepEqual(tracker.update({ state: onBattery(again), variables: vars, now: again }), []);
  assert.equal(tracker.nextCheckAt(again + 2 * MIN - 1), again + 2 * MIN, 'counts from the new outage');
  assert.equal(tracker.countdowns(again + 2 * MIN)[0]!.text, 'shed now');
  assert.deepEqual(tracker.update({ state: onBattery(again), variables: vars, now: again + 2 * MIN }), ['shed']);
  assert.deepEqual(tracker.countdowns(again + 2 * MIN), []);
});

test('tracker: a fired stage stays fired until reset, and fires once', () => {
  const tracker = new StageTriggerTracker(STAGES);
  const vars = { 'battery.runtime': '250' };
  assert.deepEqual(tracker.update({ state: onBattery(T0), variables: vars, now: T0 + 3 * MIN }), ['shed', 'shutdown']);
  assert.deepEqual(tracker.update({ state: onBattery(T0), variables: vars, now: T0 + 4 * MIN }), [], 'fires once');
  assert.deepEqual(tracker.update({ state: ONLINE, variables: vars, now: T0 + 5 * MIN }), []);
  assert.deepEqual(tracker.firedStages(), ['shed', 'shutdown'], 'the caller decides when to reset');
  assert.deepEqual(
    tracker.status(T0 + 5 * MIN).slice(0, 1),
    [{ name: 'shed', fired: true, firedAt: T0 + 3 * MIN, firedBy: 'trigger' }],
  );

  tracker.reset('shed');
  assert.equal(tracker.isFired('shed'), false);
  assert.equal(tracker.isFired('shutdown'), true);
  tracker.resetAll();
  assert.deepEqual(tracker.firedStages(), []);
  assert.deepEqual(tracker.update({ state: onBattery(T0), variables: { 'battery.runtime': '1000' }, now: T0 + 3 * MIN }), ['shed']);
});

test('tracker: manual fires only on request, whatever the trigger', () => {
  const tracker = new StageTriggerTracker(STAGES);
  assert.deepEqual(tracker.update({ state: onBattery(T0), variables: {}, now: T0 + 60 * MIN }), ['shed']);
  assert.equal(tracker.isFired('maintenance'), false, 'never by evaluation');
  assert.equal(tracker.fireManually('maintenance', T0 + 61 * MIN), true);
  assert.equal(tracker.fireManually('maintenance', T0 + 62 * MIN), false, 'already fired');
  assert.equal(tracker.fireManually('shutdown', T0 + 62 * MIN), true, 'the operator overrides any trigger');
  assert.deepEqual(tracker.status(T0 + 63 * MIN).map((s) => [s.name, s.firedBy, s.firedAt]), [
    ['shed', 'trigger', T0 + 60 * MIN],
    ['shutdown', 'manual', T0 + 62 * MIN],
    ['maintenance', 'manual', T0 + 61 * MIN],
  ]);
});

test('tracker: stage names are checked', () => {
  assert.throws(() => new StageTriggerTracker([STAGES[0]!, STAGES[0]!]), /duplicate stage 'shed'/);
  assert.throws(() => new StageTriggerTracker([{ name: '', trigger: {} }]), /without a name/);
  const tracker = new StageTriggerTracker(STAGES);
  assert.throws(() => tracker.fireManually('nope', T0), /unknown stage 'nope'/);
  assert.throws(() => tracker.reset('nope'), /unknown stage/);
  assert.equal(tracker.nextCheckAt(T0), undefined, 'no data yet');
});
