import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlReply } from '../../../src/sim/ups/control.js';
import { createUpsSim } from '../../../src/sim/ups/simulator.js';
import type { UpsState } from '../../../src/sim/ups/model.js';
import type { FaultsState } from '../../../src/sim/ups/responder.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** The fields of a successful reply. */
function okReply<T>(reply: ControlReply): T {
  assert.equal(reply.ok, true, JSON.stringify(reply));
  return reply as unknown as T;
}

function setup() {
  const clock = new ManualClock();
  const sim = createUpsSim({ clock, seed: 3 });
  const handle = (request: unknown) => sim.controller.handle(request);
  const state = () => okReply<{ state: UpsState; faults: FaultsState }>(handle({ cmd: 'state' }));
  return { clock, sim, handle, state };
}

describe('UpsSimController', () => {
  it('switches mains and answers with the new state', () => {
    const { handle } = setup();
    const reply = okReply<{ state: UpsState }>(handle({ cmd: 'mains', on: false }));
    assert.equal(reply.state.mains, false);
    assert.equal(reply.state.bits[0], '1');
    const back = okReply<{ state: UpsState }>(handle({ cmd: 'mains', on: true, voltage: 231.5, frequency: 49.9 }));
    assert.deepEqual(back.state.input, { voltage: 231.5, faultVoltage: 230.9, frequency: 49.9 });
  });

  it('sets load, charge and the LB mode', () => {
    const { handle, state } = setup();
    handle({ cmd: 'load', percent: 55 });
    handle({ cmd: 'charge', percent: 15 });
    assert.equal(state().state.output.loadPercent, 55);
    assert.equal(state().state.battery.chargePercent, 15);
    assert.equal(state().state.battery.lowBattery, true);
    handle({ cmd: 'lb', mode: 'off' });
    assert.equal(state().state.battery.lowBattery, false);
    assert.equal(state().state.battery.lowBatteryMode, 'off');
  });

  it('sets the faults', () => {
    const { handle, state } = setup();
    handle({ cmd: 'comm', state: 'lost' });
    handle({ cmd: 'garbage', every: 2, kind: 'prefix' });
    handle({ cmd: 'partial', count: 1 });
    handle({ cmd: 'slow', ms: 1200 });
    handle({ cmd: 'echo', on: true, commands: ['I'] });
    assert.deepEqual(state().faults, {
      comm: { mode: 'on' },
      garbage: { mode: 'every', every: 2, seen: 0, kind: 'prefix' },
      partial: { mode: 'count', remaining: 1 },
      slow: { mode: 'on', ms: 1200 },
      echo: { mode: 'on', commands: ['I'] },
    });
    handle({ cmd: 'comm', state: 'ok' });
    handle({ cmd: 'slow', ms: 0 });
    assert.deepEqual(state().faults.comm, { mode: 'off' });
    assert.deepEqual(state().faults.slow, { mode: 'off', ms: 0 });
  });

  it('returns the log, incrementally', () => {
    const { sim, handle } = setup();
    sim.responder.receive(Buffer.from('Q1\rC\r'));
    const all = okReply<{ entries: { kind: string }[]; lines: string[]; last: number }>(handle({ cmd: 'log' }));
    assert.deepEqual(all.entries.map((e) => e.kind), ['RX', 'TX', 'RX', 'EV']);
    assert.match(all.lines[0]!, /^1 \d+\.\d{3} RX 'Q1\\r'$/);
    assert.match(all.lines[3]!, /^4 \d+\.\d{3} EV C \(nothing pending\)$/);
    sim.responder.receive(Buffer.from('Q\r'));
    const more = okReply<{ lines: string[] }>(handle({ cmd: 'log', since: all.last }));
    assert.equal(more.lines.length, 2);
    assert.match(more.lines[1]!, /EV BEEPER disabled$/);
  });

  it('runs a script on the clock, each step after the previous one', async () => {
    const { clock, handle, state, sim } = setup();
    const reply = handle({
      cmd: 'script',
      steps: [
        { after: '5s', cmd: 'mains', on: false },
        { after: 2000, cmd: 'load', percent: 80 },
        { after: '1m', cmd: 'mains', on: true },
      ],
    });
    assert.deepEqual(reply, { ok: true, steps: 3, durationMs: 67_000 });
    await clock.advance(4999);
    assert.equal(state().state.mains, true);
    await clock.advance(1);
    assert.equal(state().state.mains, false);
    await clock.advance(2000);
    assert.equal(state().state.output.loadPercent, 80);
    await clock.advance(60_000);
    assert.equal(state().state.mains, true);
    assert.ok(sim.model.log.events().some((e) => e.startsWith('SCRIPT step=3/3 ')));
  });

  it('validates a whole script before running any of it', async () => {
    const { clock, handle, state } = setup();
    const bad = handle({ cmd: 'script', steps: [{ after: '1s', cmd: 'mains', on: false }, { after: 'soon', cmd: 'load', percent: 5 }] });
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /steps\[1\]\.after/);
    const nested = handle({ cmd: 'script', steps: [{ after: '1s', cmd: 'state' }] });
    assert.equal(nested.ok, false);
    assert.match((nested as { error: string }).error, /steps\[0\]/);
    await clock.advance(5000);
    assert.equal(state().state.mains, true);
  });

  it('dispose cancels scripts still waiting', async () => {
    const { clock, handle, sim } = setup();
    handle({ cmd: 'script', steps: [{ after: '1s', cmd: 'mains', on: false }] });
    sim.dispose();
    await clock.advance(5000);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('refuses bad requests with a reason, and repeats the id', () => {
    const { handle } = setup();
    const cases: [unknown, RegExp][] = [
      [{ cmd: 'nope' }, /cmd/],
      [{ cmd: 'load', percent: 130 }, /percent/],
      [{ cmd: 'load', precent: 30 }, /precent/],
      [{ cmd: 'comm', state: 'lost', on: true }, /not both/],
      [{ cmd: 'garbage', on: true, count: 3 }, /exactly one/],
      ['mains', /object/],
    ];
    for (const [request, why] of cases) {
      const reply = handle(request);
      assert.equal(reply.ok, false, JSON.stringify(request));
      assert.match((reply as { error: string }).error, why);
    }
    assert.deepEqual(handle({ cmd: 'nope', id: 7 }).id, 7);
    assert.equal(handle({ cmd: 'state', id: 'a' }).id, 'a');
  });
});
