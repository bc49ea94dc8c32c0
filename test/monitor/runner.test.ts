import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Monitor } from '../../src/monitor/monitor.js';
import { MonitorRunner, type MonitorUpdate } from '../../src/monitor/runner.js';
import type { UpsEvent } from '../../src/monitor/types.js';
import type { PollSample } from '../../src/ups/types.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** Stands in for the UPS driver, which emits 'poll' with a PollSample. */
class FakeDriver extends EventEmitter<{ poll: [PollSample] }> {
  constructor(private readonly clock: ManualClock) {
    super();
  }

  poll(status: string, variables: Record<string, string> = {}): void {
    this.emit('poll', { time: this.clock.now(), ok: true, stale: false, status, variables: { 'ups.status': status, ...variables } });
  }

  fail(lastStatus: string): void {
    this.emit('poll', { time: this.clock.now(), ok: false, stale: false, status: lastStatus, variables: {}, error: 'timeout' });
  }
}

function setup() {
  const clock = new ManualClock();
  const driver = new FakeDriver(clock);
  const runner = new MonitorRunner({ source: driver, monitor: new Monitor({ ups: 'ippon' }), clock });
  const events: UpsEvent[] = [];
  const updates: MonitorUpdate[] = [];
  runner.on('event', (e) => events.push(e));
  runner.on('update', (u) => updates.push(u));
  return { clock, driver, runner, events, updates };
}

test('polls become events and an update carrying the last good readings', async () => {
  const { clock, driver, runner, events, updates } = setup();
  runner.start();
  driver.poll('OL', { 'battery.charge': '100' });
  await clock.advance(2000);
  driver.poll('OB', { 'battery.charge': '97' });
  assert.deepEqual(events.map((e) => [e.event, e.time - updates[0]!.time]), [['ONBATT', 2000]]);
  assert.equal(updates.length, 2, 'one update per poll; quiet ticks add none');
  assert.equal(updates[1]!.state.onBattery, true);
  assert.equal(updates[1]!.variables['battery.charge'], '97');

  driver.fail('OB');
  assert.equal(events.at(-1)!.event, 'COMMBAD');
  assert.equal(updates.at(-1)!.variables['battery.charge'], '97', 'a failed poll keeps the last good readings');
  assert.equal(runner.current().variables['battery.charge'], '97');
  runner.stop();
});

test('ticks apply DEADTIME and MAXAGE when the driver goes quiet', async () => {
  const { clock, driver, runner, events, updates } = setup();
  runner.start();
  driver.poll('OB');
  const polled = updates.length;
  await clock.advance(15_000);
  assert.equal(updates.length, polled, 'nothing changed within DEADTIME');
  await clock.advance(1000);
  assert.deepEqual(events.map((e) => e.event), ['ONBATT', 'COMMBAD']);
  const last = updates.at(-1)!;
  assert.equal(last.time, clock.now());
  assert.equal(last.state.criticalReason, 'dead on battery');
  assert.equal(runner.current().state.critical, true);
  runner.stop();
});

test('stop() leaves no timer and no listener behind', async () => {
  const { clock, driver, runner, events } = setup();
  runner.start();
  runner.start();
  assert.equal(driver.listenerCount('poll'), 1, 'start is idempotent');
  assert.equal(clock.pendingTimers(), 1);
  runner.stop();
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(driver.listenerCount('poll'), 0);
  driver.poll('OB');
  await clock.advance(60_000);
  assert.equal(events.length, 0);
  runner.start();
  driver.poll('OB');
  assert.deepEqual(events.map((e) => e.event), ['ONBATT'], 'restartable');
  runner.stop();
});

test('a listener throwing during a tick does not stop the ticks', async () => {
  const { clock, driver, runner, updates } = setup();
  runner.start();
  driver.poll('OB');
  runner.once('event', () => {
    throw new Error('listener bug');
  });
  // The silent driver's COMMBAD comes from a tick, and its listener throws.
  await assert.rejects(clock.advance(16_000), /listener bug/);
  assert.equal(clock.pendingTimers(), 1);
  await clock.advance(2000);
  assert.equal(updates.at(-1)!.state.criticalReason, 'dead on battery');
  runner.stop();
});

test('tickMs must be positive', () => {
  const clock = new ManualClock();
  assert.throws(
    () => new MonitorRunner({ source: new FakeDriver(clock), monitor: new Monitor({ ups: 'x' }), clock, tickMs: 0 }),
    /tickMs/,
  );
});
