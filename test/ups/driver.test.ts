import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UpsDriver, type UpsDriverOptions } from '../../src/ups/driver.js';
import { modelRuntime, type LearnedRuntime } from '../../src/ups/battery-runtime.js';
import { UpsCommandError } from '../../src/ups/instcmd.js';
import { formatFixed } from '../../src/ups/variables.js';
import { TransportError } from '../../src/ups/transport/transport.js';
import type { PollSample } from '../../src/ups/types.js';
import { formatStatus } from '../../src/sim/ups/protocol.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { ScriptedTransport, type FakeReply } from './scripted-transport.js';

// The simulated Ippon Back Basic 650S of the NUT 2.8.0 captures.
const IPPON_OL = '(228.0 227.4 228.0 028 50.1 13.6 25.0 00001001';
const IPPON_F = '#220.0 003 12.00 50.0';
const IPPON_I = '#IPPON           BB 650S    V3.2      ';
const IPPON_REPLIES = { Q1: IPPON_OL, F: IPPON_F, I: IPPON_I };
// The seed's ups.conf overrides.
const SEED_BATTERY = { nominal: 12, high: 13.6, low: 10.4 };

function identity(manufacturer: string, model: string, firmware: string): string {
  return `#${manufacturer.padEnd(15)} ${model.padEnd(10)} ${firmware.padEnd(10)}`;
}

/** A Q1 reply from the independent simulator's formatter (battery as SS.S). */
function q1(fields: { input?: number; output?: number; load: number; battery: number; bits: string }): string {
  return formatStatus({
    inputVoltage: fields.input ?? 0,
    inputFaultVoltage: fields.input ?? 0,
    outputVoltage: fields.output ?? 220,
    loadPercent: fields.load,
    frequency: fields.input ? 50 : 0,
    batteryVoltage: fields.battery,
    temperature: 25,
    bits: fields.bits,
  });
}

function setup(options: Partial<UpsDriverOptions> = {}, replies: Record<string, FakeReply> = IPPON_REPLIES) {
  const clock = new ManualClock();
  const ups = new ScriptedTransport(clock, replies);
  const driver = new UpsDriver(ups, { name: 'ippon', port: 'auto', clock, ...options });
  const samples: PollSample[] = [];
  driver.on('poll', (s) => samples.push(s));
  return { clock, ups, driver, samples };
}

/** Waits for `promise`, moving the clock while it waits for replies that time out. */
async function settle<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  while (!done) await clock.advance(100);
  return watched;
}

function started(clock: ManualClock, driver: UpsDriver): Promise<void> {
  return settle(clock, driver.start());
}

function pick(variables: Readonly<Record<string, string>>, keys: string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, variables[k]]));
}

test('the variables match what NUT 2.8.0 published for the same UPS (upsc captures)', async () => {
  const { clock, ups, driver, samples } = setup({ battery: SEED_BATTERY });
  await started(clock, driver);
  const runtime = formatFixed(modelRuntime(180, 100, 28), 0);
  assert.deepEqual(samples[0]!.variables, {
    'battery.charge': '100',
    'battery.runtime': runtime,
    'battery.voltage': '13.60',
    'battery.voltage.high': '13.60',
    'battery.voltage.low': '10.40',
    'battery.voltage.nominal': '12.00',
    'device.mfr': 'IPPON',
    'device.model': 'BB 650S',
    'device.type': 'ups',
    'driver.name': 'pvepower',
    'driver.parameter.pollinterval': '1',
    'driver.parameter.port': 'auto',
    'driver.version': '0.1.0',
    'input.current.nominal': '3.0',
    'input.frequency': '50.1',
    'input.frequency.nominal': '50',
    'input.voltage': '228.0',
    'input.voltage.fault': '227.4',
    'input.voltage.nominal': '220',
    'output.voltage': '228.0',
    'ups.beeper.status': 'enabled',
    'ups.delay.shutdown': '30',
    'ups.delay.start': '180',
    'ups.firmware': 'V3.2',
    'ups.load': '28',
    'ups.status': 'OL',
    'ups.temperature': '25.0',
    'ups.type': 'offline / line interactive',
  });
  assert.equal(samples[0]!.status, 'OL');

  // upsc-megatec-OB.txt: mains failed, 12.50 V.
  ups.answer('Q1', '(000.0 000.0 220.0 028 00.0 12.5 25.0 10001001');
  await clock.advance(1000);
  const keys = ['battery.charge', 'battery.voltage', 'input.voltage', 'input.voltage.fault', 'output.voltage', 'ups.status'];
  assert.deepEqual(pick(samples.at(-1)!.variables, keys), {
    'battery.charge': '66',
    'battery.voltage': '12.50',
    'input.voltage': '0.0',
    'input.voltage.fault': '0.0',
    'output.voltage': '220.0',
    'ups.status': 'OB',
  });
  // upsc-megatec-OB-LB.txt
  ups.answer('Q1', '(000.0 000.0 220.0 028 00.0 12.5 25.0 11001001');
  await clock.advance(1000);
  assert.equal(samples.at(-1)!.status, 'OB LB');
  assert.equal(samples.at(-1)!.variables['ups.status'], 'OB LB');
  await driver.stop();
});

const DUMPS: {
  name: string;
  replies: Record<string, FakeReply>;
  battery?: UpsDriverOptions['battery'];
  expected: Record<string, string | undefined>;
}[] = [
  {
    name: 'Ippon Back Basic 850 Euro (blazer_usb, 0665:5161)',
    replies: { Q1: '(222.0 221.4 221.4 013 50.3 13.6 25.0 00001001', F: '#220.0 003 12.00 50.0', I: 'I' },
    battery: { high: 13.0, low: 10.4 },
    expected: {
      'battery.charge': '100',
      'battery.voltage': '13.60',
      'battery.voltage.high': '13.00',
      'battery.voltage.low': '10.40',
      'battery.voltage.nominal': '12.00',
      'device.mfr': undefined,
      'input.current.nominal': '3.0',
      'input.frequency': '50.3',
      'input.frequency.nominal': '50',
      'input.voltage': '222.0',
      'input.voltage.fault': '221.4',
      'input.voltage.nominal': '220',
      'output.voltage': '221.4',
      'ups.beeper.status': 'enabled',
      'ups.load': '13',
      'ups.status': 'OL',
      'ups.temperature': '25.0',
      'ups.type': 'offline / line interactive',
    },
  },
  {
    name: 'PowerWalker Online VFI 1000 LCD (per cell, OL BYPASS)',
    replies: { Q1: '(227.4 227.2 227.5 015 50.0 2.27 20.5 00100000', F: '#220.0 004 036.0 50.0', I: identity('', 'HV 1K', '00001907') },
    expected: {
      'battery.packs': '18',
      'battery.voltage': '40.86',
      'battery.voltage.nominal': '36.00',
      'device.mfr': undefined,
      'device.model': 'HV 1K',
      'input.current.nominal': '4.0',
      'input.voltage': '227.4',
      'input.voltage.fault': '227.2',
      'output.voltage': '227.5',
      'ups.firmware': '00001907',
      'ups.load': '15',
      'ups.status': 'OL BYPASS',
      'ups.temperature': '20.5',
      'ups.type': 'online',
    },
  },
  {
    name: 'Digitus DN-170076',
    replies: { Q1: '(225.4 225.4 225.4 000 50.0 27.2 @@.@ 00001001', F: '#230.0 008 24.00 50.0' },
    battery: { high: 27.4, low: 20.8 },
    expected: {
      'battery.charge': '97',
      'battery.voltage': '27.20',
      'input.current.nominal': '8.0',
      'input.voltage.nominal': '230',
      'ups.load': '0',
      'ups.status': 'OL',
      'ups.temperature': undefined,
    },
  },
  {
    name: 'Sweex INTELLIGENT UPS 1500VA (on battery)',
    replies: { Q1: '(006.4 006.4 216.0 003 50.0 21.4 @@.@ 10001001', F: '#220.0 006 24.00 50.0', I: 'I' },
    battery: { high: 26.0, low: 20.8 },
    expected: {
      'battery.charge': '12',
      'battery.voltage': '21.40',
      'battery.voltage.nominal': '24.00',
      'input.voltage': '6.4',
      'output.voltage': '216.0',
      'ups.load': '3',
      'ups.status': 'OB',
    },
  },
];

for (const dump of DUMPS) {
  test(`the key values of the ${dump.name} dump`, async () => {
    const { clock, driver, samples } = setup({ battery: dump.battery }, dump.replies);
    await started(clock, driver);
    assert.deepEqual(pick(samples[0]!.variables, Object.keys(dump.expected)), dump.expected);
    await driver.stop();
  });
}

test('F and I are read once at start, then Q1 every poll interval', async () => {
  const { clock, ups, driver, samples } = setup();
  const t0 = clock.now();
  await started(clock, driver);
  await clock.advance(4000 - (clock.now() - t0));
  assert.deepEqual(ups.commands(), ['F', 'I', 'Q1', 'Q1', 'Q1', 'Q1', 'Q1']);
  assert.deepEqual(
    ups.sent.filter((s) => s.command === 'Q1\r').map((s) => s.time - t0),
    [0, 1000, 2000, 3000, 4000],
  );
  assert.equal(samples.length, 5);
  assert.ok(samples.every((s) => s.ok && !s.stale && s.status === 'OL'));
  assert.equal(ups.opens, 1);
  await driver.stop();
});

test('a UPS that echoes F and I, or ignores them, is driven without them', async () => {
  for (const missing of ['echo', 'silence'] as const) {
    const replies: Record<string, FakeReply> = missing === 'echo' ? { Q1: IPPON_OL, F: 'F', I: 'I' } : { Q1: IPPON_OL };
    const { clock, ups, driver, samples } = setup({}, replies);
    await started(clock, driver);
    await clock.advance(2000);
    const commands = ups.commands();
    assert.deepEqual(commands.slice(0, 3), ['F', 'I', 'Q1'], missing);
    assert.ok(commands.slice(3).length >= 2 && commands.slice(3).every((c) => c === 'Q1'), `${missing}: F and I are asked once`);
    const variables = samples.at(-1)!.variables;
    for (const absent of ['device.mfr', 'device.model', 'ups.firmware', 'input.voltage.nominal', 'battery.voltage.nominal', 'battery.charge']) {
      assert.equal(variables[absent], undefined, `${missing}: ${absent}`);
    }
    assert.equal(variables['ups.status'], 'OL');
    assert.equal(variables['battery.voltage'], '13.60');
    await driver.stop();
  }
  // Like the seed: no F, nominal from the config, limits from the ±15 % rule.
  const { clock, driver, samples } = setup({ battery: { nominal: 12 } }, { Q1: IPPON_OL, F: 'F', I: 'I' });
  await started(clock, driver);
  assert.deepEqual(pick(samples[0]!.variables, ['battery.voltage.high', 'battery.voltage.low', 'battery.charge']), {
    'battery.voltage.high': '13.80',
    'battery.voltage.low': '10.20',
    'battery.charge': '94',
  });
  await driver.stop();
});

test('F is asked again when the device was not reachable, and given up after 3 garbled replies', async () => {
  const { clock, ups, driver, samples } = setup();
  ups.queue('F', new TransportError('disconnected', 'device lost'));
  ups.queue('I', '#IPP', '#IPP', '#IPP');
  ups.queue('Q1', new TransportError('not-found', 'no 0665:5161 device'));
  await started(clock, driver);
  assert.equal(samples[0]!.ok, false);
  await clock.advance(3000);
  assert.deepEqual(ups.commands(), ['F', 'I', 'Q1', 'F', 'I', 'Q1', 'I', 'Q1', 'Q1']);
  const variables = samples.at(-1)!.variables;
  assert.equal(variables['input.voltage.nominal'], '220');
  assert.equal(variables['device.mfr'], undefined);
  assert.equal(driver.counters.reconnects, 1, 'the device came back after it was lost');
  await driver.stop();
});

test('failures keep the last good status, count, and make the data stale at the 5th', async () => {
  const { clock, ups, driver, samples } = setup();
  await started(clock, driver);
  ups.queue(
    'Q1',
    'silence',
    '(000.0 000.0 220.0 028 00.0 12.5 25.0 1000100', // an on-battery frame missing its last bit
    'Q1',
    new TransportError('timeout', 'no CR', '(000.0 000.0 22'),
    new TransportError('disconnected', 'device lost'),
  );
  while (samples.length < 7) await clock.advance(500);
  const failed = samples.slice(1, 6);
  assert.deepEqual(failed.map((s) => [s.ok, s.stale, s.status]), [
    [false, false, 'OL'],
    [false, false, 'OL'],
    [false, false, 'OL'],
    [false, false, 'OL'],
    [false, true, 'OL'],
  ]);
  assert.match(failed[0]!.error!, /timeout/);
  assert.match(failed[1]!.error!, /too-short/);
  assert.match(failed[2]!.error!, /echo/);
  assert.match(failed[3]!.error!, /partial reply "\(000\.0 000\.0 22"/);
  assert.match(failed[4]!.error!, /disconnected/);
  for (const s of failed) assert.equal(s.variables['ups.status'], 'OL', 'the variables of the last good poll stay');
  const recovered = samples[6]!;
  assert.deepEqual([recovered.ok, recovered.stale, recovered.status], [true, false, 'OL']);
  assert.deepEqual(driver.counters, { polls: 7, failures: 5, garbled: 2, timeouts: 2, reconnects: 1 });
  await driver.stop();
});

test('polls never overlap: a slow reply delays the next poll instead', async () => {
  const { clock, ups, driver, samples } = setup({ pollIntervalMs: 500 }, { Q1: 'silence', F: 'F', I: 'I' });
  const t0 = clock.now();
  await started(clock, driver);
  const shared = [driver.pollOnce(), driver.pollOnce()];
  assert.equal(shared[0], shared[1], 'a poll under way is shared');
  await clock.advance(3000);
  await Promise.all(shared);
  assert.equal(ups.maxConcurrent, 1);
  // Each poll waits out the 1 s timeout, so polls run back to back, 1 s apart, not every 500 ms.
  const q1Times = ups.sent.filter((s) => s.command === 'Q1\r').map((s) => s.time - t0);
  assert.deepEqual(q1Times, [0, 1000, 2000, 3000, 4000]);
  assert.ok(samples.every((s) => !s.ok));
  await settle(clock, driver.stop());
});

test('stop leaves no timer behind and closes the transport', async () => {
  const { clock, ups, driver, samples } = setup();
  await started(clock, driver);
  await clock.advance(2000);
  await driver.stop();
  assert.equal(clock.pendingTimers(), 0);
  assert.equal(ups.closes, 1);
  const count = samples.length;
  await clock.advance(5000);
  assert.equal(samples.length, count);
  // Stopping during a poll waits for it; nothing is rescheduled.
  const slow = setup({}, { Q1: 'silence', F: 'F', I: 'I' });
  const starting = slow.driver.start();
  await slow.clock.advance(1000);
  await starting;
  await slow.clock.advance(200);
  const stopping = slow.driver.stop();
  await slow.clock.advance(1000);
  await stopping;
  assert.equal(slow.clock.pendingTimers(), 0);
  // And it can start again.
  await started(clock, driver);
  assert.equal(ups.opens, 2);
  await driver.stop();
});

test('a UPS that cannot be opened at start is retried by the polls', async () => {
  const { clock, ups, driver, samples } = setup();
  ups.openError = new TransportError('not-found', 'no 0665:5161 device');
  await started(clock, driver);
  assert.equal(samples[0]!.ok, true, 'the transport reopens on exchange');
  await driver.stop();
});

test('a listener that throws does not stop polling', async () => {
  const { clock, driver, samples } = setup();
  driver.on('poll', () => {
    throw new Error('listener bug');
  });
  await started(clock, driver);
  await clock.advance(2000);
  assert.equal(samples.length, 3);
  await driver.stop();
});

test('ignoresab hides a stuck Shutdown Active bit', async () => {
  const stuck = { Q1: '(228.0 227.4 228.0 028 50.1 13.6 25.0 00001011', F: IPPON_F, I: IPPON_I };
  const plain = setup({}, stuck);
  await started(plain.clock, plain.driver);
  assert.equal(plain.samples[0]!.status, 'OL FSD');
  await plain.driver.stop();
  const ignoring = setup({ ignoresab: true }, stuck);
  await started(ignoring.clock, ignoring.driver);
  assert.equal(ignoring.samples[0]!.status, 'OL');
  assert.equal(ignoring.samples[0]!.variables['driver.flag.ignoresab'], 'enabled');
  await ignoring.driver.stop();
});

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UpsCommandError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('instant commands send NUT megatec bytes; silence or ACK is success', async () => {
  const { clock, ups, driver } = setup();
  const cases: [string, string | undefined, string][] = [
    ['beeper.toggle', undefined, 'Q'],
    ['test.battery.start.quick', undefined, 'T'],
    ['test.battery.start.deep', undefined, 'TL'],
    ['test.battery.start', '120', 'T02'],
    ['test.battery.start', undefined, 'T10'],
    ['test.battery.stop', undefined, 'CT'],
    ['shutdown.return', undefined, 'S.5R0003'],
    ['shutdown.stayoff', undefined, 'S.5R0000'],
    ['shutdown.stop', undefined, 'C'],
    ['load.off', undefined, 'S00R0000'],
    ['load.on', undefined, 'C'],
  ];
  for (const [name, value, wire] of cases) {
    const before = ups.sent.length;
    const sending = driver.instcmd(name, value);
    await clock.advance(1000); // the UPS stays silent until the reply timeout
    assert.equal(await sending, `${wire}\r`, name);
    assert.deepEqual(ups.commands().slice(before), [wire], name);
  }
  ups.answer('T', 'ACK');
  assert.equal(await driver.instcmd('test.battery.start.quick'), 'T\r');
  // The captured session: SET VAR ups.delay.shutdown 60, then shutdown.return.
  driver.setVariable('ups.delay.shutdown', '60');
  ups.answer('S01R0003', '');
  assert.equal(await driver.instcmd('shutdown.return'), 'S01R0003\r');
});

test('instant command failures are clear', async () => {
  const { ups, driver } = setup();
  await rejectsWith(driver.instcmd('calibrate.start'), 'unknown-command', /supported: beeper.disable, beeper.enable, beeper.toggle, .*test.battery.stop/);
  await rejectsWith(driver.instcmd('test.battery.start', '30'), 'invalid-value', /60\.\.5940/);
  ups.answer('TL', 'TL');
  await rejectsWith(driver.instcmd('test.battery.start.deep'), 'failed', /echoed 'TL': command not supported/);
  ups.answer('CT', '(NAK');
  await rejectsWith(driver.instcmd('test.battery.stop'), 'failed', /refused/);
  ups.answer('Q', new TransportError('io', 'write failed'));
  await rejectsWith(driver.instcmd('beeper.toggle'), 'failed', /not delivered: write failed/);
  assert.equal(ups.commands().filter((c) => c === 'calibrate.start').length, 0);
});

test('beeper.enable/disable read the beeper first and toggle only when needed', async () => {
  const { ups, driver, samples } = setup({}, { Q1: IPPON_OL, F: 'F', I: 'I', Q: '' });
  assert.equal(await driver.instcmd('beeper.enable'), undefined);
  assert.deepEqual(ups.commands().slice(-2), ['I', 'Q1']);
  assert.equal(await driver.instcmd('beeper.disable'), 'Q\r');
  assert.deepEqual(ups.commands().slice(-2), ['Q1', 'Q']);
  assert.equal(samples.length, 2, 'the fresh reads were published polls');
  ups.answer('Q1', 'garbage');
  await rejectsWith(driver.instcmd('beeper.enable'), 'failed', /cannot read the beeper state/);
});

test('setVariable: NUT ranges and rounding for the delays; everything else refused', async () => {
  const { clock, driver, samples } = setup();
  await started(clock, driver);
  assert.equal(driver.setVariable('ups.delay.shutdown', 60), 60);
  assert.equal(driver.setVariable('ups.delay.shutdown', '59'), 54);
  assert.equal(driver.setVariable('ups.delay.shutdown', ' 599 '), 540);
  assert.equal(driver.setVariable('ups.delay.start', '239'), 180);
  assert.equal(driver.setVariable('ups.delay.start', 0), 0);
  for (const [name, value] of [
    ['ups.delay.shutdown', '5'], // the captured ERR INVALID-VALUE
    ['ups.delay.shutdown', '601'],
    ['ups.delay.shutdown', '30s'],
    ['ups.delay.start', '599941'],
    ['ups.delay.start', '-60'],
  ] as const) {
    assert.throws(() => driver.setVariable(name, value), (err: unknown) => err instanceof UpsCommandError && err.code === 'invalid-value', `${name}=${value}`);
  }
  assert.throws(() => driver.setVariable('ups.status', 'OB'), (err: unknown) => err instanceof UpsCommandError && err.code === 'read-only');
  assert.throws(() => driver.setVariable('no.such.var', '1'), (err: unknown) => err instanceof UpsCommandError && err.code === 'unknown-variable');
  await clock.advance(1000);
  assert.deepEqual(pick(samples.at(-1)!.variables, ['ups.delay.shutdown', 'ups.delay.start']), {
    'ups.delay.shutdown': '540',
    'ups.delay.start': '0',
  });
  await driver.stop();
});

test('shutdownSequence does what upsdrvctl shutdown does: C, then 1 s later S', async () => {
  const cases: { options: Partial<UpsDriverOptions>; stayoff: boolean; expected: string }[] = [
    { options: {}, stayoff: false, expected: 'S.5R0003\r' },
    { options: { offdelay: 60, ondelay: 0 }, stayoff: false, expected: 'S01\r' },
    { options: {}, stayoff: true, expected: 'S.5R0000\r' },
  ];
  for (const { options, stayoff, expected } of cases) {
    const { clock, ups, driver } = setup(options);
    const t0 = clock.now();
    const shutting = driver.shutdownSequence({ stayoff });
    await clock.advance(2000);
    assert.deepEqual(await shutting, ['C\r', expected]);
    assert.deepEqual(ups.sent.map((s) => [s.command, s.time - t0]), [
      ['C\r', 0],
      [expected, 1000],
    ]);
  }
  // A UPS that acknowledges C at once still gets a second to act on it.
  const quick = setup({}, { C: 'ACK', 'S.5R0003': 'ACK' });
  const t0 = quick.clock.now();
  const shutting = quick.driver.shutdownSequence();
  await quick.clock.advance(1000);
  await shutting;
  assert.deepEqual(quick.ups.sent.map((s) => s.time - t0), [0, 1000]);
});

test('shutdownSequence tries each command 3 times and reports what was sent', async () => {
  const { clock, driver } = setup({}, { C: 'C', 'S.5R0003': 'S.5R0003' });
  const shutting = driver.shutdownSequence();
  const failure = assert.rejects(shutting, (err: unknown) => {
    assert.ok(err instanceof UpsCommandError);
    assert.equal(err.code, 'failed');
    assert.match(err.message, /shutdown.return failed 3 times: .*echoed 'S.5R0003'/);
    assert.deepEqual(err.sent, ['C\r', 'C\r', 'C\r', 'S.5R0003\r', 'S.5R0003\r', 'S.5R0003\r']);
    return true;
  });
  await clock.advance(1000);
  await failure;
});

test('on battery the driver learns the runtime from the discharge and reports it', async () => {
  const learned: LearnedRuntime[] = [];
  const { clock, ups, driver, samples } = setup({ battery: SEED_BATTERY });
  driver.on('learned', (l) => learned.push(l));
  await started(clock, driver);
  const onLine = Number(samples[0]!.variables['battery.runtime']);
  assert.equal(onLine, Math.round(modelRuntime(180, 100, 28)));
  // Mains fails; the battery loses 0.1 V every 5 s at 40 % load.
  let volts = 12.6;
  for (let s = 1; s <= 90; s++) {
    if (s % 5 === 0) volts -= 0.1;
    ups.answer('Q1', q1({ load: 40, battery: volts, bits: '10001001' }));
    await clock.advance(1000);
  }
  const last = samples.at(-1)!;
  assert.equal(last.status, 'OB');
  assert.ok(learned.length > 0);
  assert.deepEqual(driver.learnedRuntime, learned.at(-1));
  // The real runtime: (V − 10.4 V) at 0.02 V/s.
  const truth = (volts - 10.4) / 0.02;
  const reported = Number(last.variables['battery.runtime']);
  assert.ok(Math.abs(reported - truth) < 0.1 * truth, `battery.runtime ${reported} vs ${truth}`);
  await driver.stop();

  // The next start remembers it.
  const next = setup({ battery: { ...SEED_BATTERY, learnedRuntime: learned.at(-1) } });
  await started(next.clock, next.driver);
  assert.equal(
    next.samples[0]!.variables['battery.runtime'],
    formatFixed(modelRuntime(learned.at(-1)!.fullLoadRuntimeS, 100, 28), 0),
  );
  await next.driver.stop();
});

test('options are checked', () => {
  const clock = new ManualClock();
  const ups = new ScriptedTransport(clock);
  for (const bad of [{ pollIntervalMs: 0 }, { offdelay: 5 }, { offdelay: 601 }, { ondelay: -1 }, { ondelay: 600_000 }, { battery: { high: 10, low: 11 } }]) {
    assert.throws(() => new UpsDriver(ups, { name: 'x', clock, ...bad }), RangeError, JSON.stringify(bad));
  }
  assert.equal(new UpsDriver(ups, { name: 'x', clock }).lastSample, undefined);
});
