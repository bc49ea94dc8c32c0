import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { STALE_AFTER_FAILURES, UpsDriver } from '../../src/ups/driver.js';
import { TransportError } from '../../src/ups/transport/transport.js';
import type { PollSample } from '../../src/ups/types.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { ScriptedTransport, type FakeReply } from './scripted-transport.js';

/** A Megatec number field: `width` characters with `decimals` decimals, zero-padded. */
function field(width: number, decimals: number): fc.Arbitrary<string> {
  const intDigits = decimals === 0 ? width : width - decimals - 1;
  return fc
    .integer({ min: 0, max: 10 ** (intDigits + decimals) - 1 })
    .map((n) => (n / 10 ** decimals).toFixed(decimals).padStart(width, '0'));
}

/** A well-formed Q1 reply whose b7 (utility fail) is `b7`. */
function q1Frame(b7: '0' | '1'): fc.Arbitrary<string> {
  return fc
    .tuple(
      field(5, 1),
      field(5, 1),
      field(5, 1),
      field(3, 0),
      field(4, 1),
      fc.oneof(field(4, 1), field(4, 2)),
      field(4, 1),
      fc.array(fc.constantFrom('0', '1'), { minLength: 7, maxLength: 7 }),
    )
    .map(([vi, vf, vo, load, hz, batt, temp, bits]) => `(${vi} ${vf} ${vo} ${load} ${hz} ${batt} ${temp} ${b7}${bits.join('')}`);
}

type Event = { valid: true; reply: string } | { valid: false; reply: FakeReply; what: string };

const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split(''));
const onBatteryFrame = q1Frame('1');

const event: fc.Arbitrary<Event> = fc.oneof(
  { weight: 4, arbitrary: q1Frame('0').map((reply): Event => ({ valid: true, reply })) },
  // Random text: too short, or not starting with '('.
  {
    weight: 1,
    arbitrary: fc
      .string({ maxLength: 60 })
      .filter((s) => s.length < 46 || s[0] !== '(')
      .map((reply): Event => ({ valid: false, reply, what: 'garbage' })),
  },
  // An on-battery frame cut short, as when the bridge loses the tail of a reply.
  {
    weight: 2,
    arbitrary: fc
      .tuple(onBatteryFrame, fc.nat())
      .map(([frame, n]): Event => ({ valid: false, reply: frame.slice(0, n % 46), what: 'partial' })),
  },
  // An on-battery frame with one character garbled anywhere in its 46.
  {
    weight: 2,
    arbitrary: fc
      .tuple(onBatteryFrame, fc.nat({ max: 45 }), letter)
      .map(([frame, at, c]): Event => ({ valid: false, reply: frame.slice(0, at) + c + frame.slice(at + 1), what: 'garbled' })),
  },
  { weight: 1, arbitrary: fc.constant<Event>({ valid: false, reply: 'Q1', what: 'echo' }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(onBatteryFrame, fc.nat())
      .map(([frame, n]): Event => ({ valid: false, reply: new TransportError('timeout', 'no CR', frame.slice(0, n % 46)), what: 'timeout' })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Event>(
      { valid: false, reply: new TransportError('disconnected', 'device lost'), what: 'disconnected' },
      { valid: false, reply: new TransportError('not-found', 'no device'), what: 'not-found' },
      { valid: false, reply: new TransportError('io', 'read failed'), what: 'io' },
    ),
  },
);

async function settle<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  while (!done) await clock.advance(250);
  return watched;
}

test('garbage, partial frames, timeouts and disconnects between on-line replies never throw and never give OB', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 25 }), async (events) => {
      const clock = new ManualClock();
      const ups = new ScriptedTransport(clock, { F: 'F', I: 'I' });
      const driver = new UpsDriver(ups, { name: 'ups', clock });
      const samples: PollSample[] = [];
      driver.on('poll', (s) => samples.push(s));
      let failuresInARow = 0;
      let everValid = false;
      for (const e of events) {
        ups.queue('Q1', e.reply);
        const sample = await settle(clock, driver.pollOnce());
        failuresInARow = e.valid ? 0 : failuresInARow + 1;
        everValid ||= e.valid;
        const what = e.valid ? 'valid' : e.what;
        assert.equal(sample.ok, e.valid, `${what}: ${String(e.reply)}`);
        assert.ok(!sample.status.split(' ').includes('OB'), `${what} gave ${sample.status}`);
        assert.ok(!(sample.variables['ups.status'] ?? '').split(' ').includes('OB'));
        assert.equal(sample.stale, failuresInARow >= STALE_AFTER_FAILURES);
        assert.equal(sample.status === '', !everValid);
      }
      assert.equal(samples.length, events.length);
      const failures = events.filter((e) => !e.valid).length;
      assert.equal(driver.counters.polls, events.length);
      assert.equal(driver.counters.failures, failures);
    }),
    { numRuns: 150 },
  );
});
