import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createUpsSim } from '../../../src/sim/ups/simulator.js';
import { TransportError } from '../../../src/ups/transport/transport.js';
import { ManualClock, flushMicrotasks } from '../../helpers/manual-clock.js';

function setup() {
  const clock = new ManualClock();
  const sim = createUpsSim({ clock, seed: 1 });
  return { clock, sim, transport: sim.transport() };
}

async function settled<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown } | undefined> {
  let result: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (result = { value }),
    (error: unknown) => (result = { error }),
  );
  await flushMicrotasks();
  return result;
}

function assertTimeout(error: unknown, partial: string): void {
  assert.ok(error instanceof TransportError, String(error));
  assert.equal(error.kind, 'timeout');
  assert.equal(error.partial, partial);
}

describe('SimTransport', () => {
  it('resolves the reply text before the CR', async () => {
    const { transport } = setup();
    await transport.open();
    assert.equal(await transport.exchange('Q1\r'), '(228.0 227.4 228.0 028 50.1 13.6 25.0 00001001');
    assert.equal(await transport.exchange('F\r'), '#220.0 003 12.00 50.0');
    assert.equal(await transport.exchange('QGS\r'), 'QGS');
    assert.match(transport.description, /sim/);
  });

  it('times out on commands the UPS does not answer, on the clock', async () => {
    const { clock, sim, transport } = setup();
    const pending = transport.exchange('S.5R0003\r', { timeoutMs: 500 });
    assert.equal(await settled(pending), undefined, 'still waiting');
    await clock.advance(499);
    assert.equal(await settled(pending), undefined);
    await clock.advance(1);
    const result = await settled(pending);
    assertTimeout(result?.error, '');
    assert.equal(sim.model.snapshot().shutdown?.cmd, 'S.5R0003', 'the UPS acted on it');
  });

  it('reports what arrived of a partial reply', async () => {
    const { clock, sim, transport } = setup();
    sim.responder.setPartial({ count: 1 });
    const pending = transport.exchange('Q1\r');
    await clock.advance(1000);
    assertTimeout((await settled(pending))?.error, '(228.0 227.4 228.0 028 ');
    assert.match(await transport.exchange('Q1\r'), /^\(228\.0/);
  });

  it('waits for a slow reply within the timeout', async () => {
    const { clock, sim, transport } = setup();
    sim.responder.setSlow(600);
    const pending = transport.exchange('F\r');
    await clock.advance(599);
    assert.equal(await settled(pending), undefined);
    await clock.advance(1);
    assert.deepEqual(await settled(pending), { value: '#220.0 003 12.00 50.0' });
  });

  it('a reply slower than the timeout is stale for the next command', async () => {
    const { clock, sim, transport } = setup();
    sim.responder.setSlow(1500, { count: 1 });
    const first = transport.exchange('F\r', { timeoutMs: 1000 });
    await clock.advance(1000);
    assertTimeout((await settled(first))?.error, '');
    // The late F reply lands while nothing waits; the next exchange gets its own answer.
    await clock.advance(500);
    assert.match(await transport.exchange('Q1\r'), /^\(228\.0/);
  });

  it('comm loss: every exchange times out until the link is back', async () => {
    const { clock, sim, transport } = setup();
    sim.responder.setComm({ on: true });
    const pending = transport.exchange('Q1\r');
    await clock.advance(1000);
    assertTimeout((await settled(pending))?.error, '');
    sim.responder.setComm({ on: false });
    assert.match(await transport.exchange('Q1\r'), /^\(228\.0/);
  });

  it('runs one command at a time', async () => {
    const { clock, sim, transport } = setup();
    sim.responder.setSlow(300);
    const a = transport.exchange('Q1\r');
    const b = transport.exchange('F\r');
    await clock.advance(300);
    assert.match((await settled(a))!.value!, /^\(228/);
    assert.equal(await settled(b), undefined, 'F is sent only after the Q1 reply');
    await clock.advance(300);
    assert.equal((await settled(b))!.value, '#220.0 003 12.00 50.0');
    const rx = sim.model.log.received().map((e) => e.time);
    assert.equal(rx[1]! - rx[0]!, 300);
  });

  it('reopens after close and refuses a command without CR', async () => {
    const { transport } = setup();
    await transport.open();
    await transport.close();
    await transport.close();
    assert.match(await transport.exchange('Q1\r'), /^\(/);
    await assert.rejects(transport.exchange('Q1'), TypeError);
  });
});
