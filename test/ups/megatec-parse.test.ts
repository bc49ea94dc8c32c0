import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Q1_MIN_LENGTH,
  checkCommandReply,
  deriveStatus,
  isEcho,
  parseIdentity,
  parseQ1,
  parseRating,
  regulationToken,
  type ParseErrorReason,
  type ParseResult,
  type Q1Reading,
} from '../../src/ups/megatec/index.js';
import { formatInfo, formatRating, formatStatus } from '../../src/sim/ups/protocol.js';

function ok<T>(result: ParseResult<T>): T {
  if (!result.ok) assert.fail(`expected a valid reply, got ${result.error.reason}: ${result.error.message}`);
  return result.value;
}

function rejected<T>(result: ParseResult<T>): ParseErrorReason {
  if (result.ok) assert.fail(`expected a rejection, got ${JSON.stringify(result.value)}`);
  return result.error.reason;
}

function statusOf(reply: string, ignoresab = false) {
  return deriveStatus(ok(parseQ1(reply)), { ignoresab });
}

// Every raw Q1 vector of nut.md §2/§6, with what NUT makes of it.
const Q1_VECTORS: { source: string; reply: string; values: Omit<Q1Reading, 'bits'>; status: string; type: string; beeper: string }[] = [
  {
    source: 'nutdrv_qx_megatec-old.c comment',
    reply: '(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000',
    values: { inputVoltage: 226, inputFaultVoltage: 195, outputVoltage: 226, loadPercent: 14, inputFrequency: 49, batteryVoltage: 27.5, temperature: 30 },
    status: 'OL',
    type: 'offline / line interactive',
    beeper: 'disabled',
  },
  {
    source: 'megatec testing table',
    reply: '(215.0 195.0 230.0 014 49.0 22.7 30.0 00000000',
    values: { inputVoltage: 215, inputFaultVoltage: 195, outputVoltage: 230, loadPercent: 14, inputFrequency: 49, batteryVoltage: 22.7, temperature: 30 },
    status: 'OL',
    type: 'online',
    beeper: 'disabled',
  },
  {
    // b5 with vo/vi = 230/215 = 1.07: boosting.
    source: 'blazer_usb.c/blazer_ser.c tests (per-cell, b5+b3)',
    reply: '(215.0 195.0 230.0 014 49.0 2.27 30.0 00101000',
    values: { inputVoltage: 215, inputFaultVoltage: 195, outputVoltage: 230, loadPercent: 14, inputFrequency: 49, batteryVoltage: 2.27, temperature: 30 },
    status: 'OL BOOST',
    type: 'offline / line interactive',
    beeper: 'disabled',
  },
  {
    source: 'megatec protocol spec example (UPS failed, bypass)',
    reply: '(208.4 140.0 208.4 034 59.9 2.05 35.0 00110000',
    values: { inputVoltage: 208.4, inputFaultVoltage: 140, outputVoltage: 208.4, loadPercent: 34, inputFrequency: 59.9, batteryVoltage: 2.05, temperature: 35 },
    status: 'ALARM OL BYPASS',
    type: 'online',
    beeper: 'disabled',
  },
  {
    source: 'Armac log: on line, beeper on',
    reply: '(233.0 000.0 233.0 014 49.0 27.0 20.8 00001001',
    values: { inputVoltage: 233, inputFaultVoltage: 0, outputVoltage: 233, loadPercent: 14, inputFrequency: 49, batteryVoltage: 27, temperature: 20.8 },
    status: 'OL',
    type: 'offline / line interactive',
    beeper: 'enabled',
  },
  {
    source: 'Armac log: on battery',
    reply: '(000.0 140.0 227.0 002 00.0 46.8 56.0 10001000',
    values: { inputVoltage: 0, inputFaultVoltage: 140, outputVoltage: 227, loadPercent: 2, inputFrequency: 0, batteryVoltage: 46.8, temperature: 56 },
    status: 'OB',
    type: 'offline / line interactive',
    beeper: 'disabled',
  },
  {
    source: 'Armac log: per-cell 2.25',
    reply: '(241.5 000.0 230.3 000 49.9 2.25 48.0 00000001',
    values: { inputVoltage: 241.5, inputFaultVoltage: 0, outputVoltage: 230.3, loadPercent: 0, inputFrequency: 49.9, batteryVoltage: 2.25, temperature: 48 },
    status: 'OL',
    type: 'online',
    beeper: 'enabled',
  },
  {
    source: '0665:5161 cypress trace (#1279)',
    reply: '(243.0 243.2 239.7 020 50.0 2.26 28.8 00000001',
    values: { inputVoltage: 243, inputFaultVoltage: 243.2, outputVoltage: 239.7, loadPercent: 20, inputFrequency: 50, batteryVoltage: 2.26, temperature: 28.8 },
    status: 'OL',
    type: 'online',
    beeper: 'enabled',
  },
  {
    source: 'Ippon Back Pro (#242)',
    reply: '(227.2 227.6 227.6 013 50.1 13.5 25.0 00001001',
    values: { inputVoltage: 227.2, inputFaultVoltage: 227.6, outputVoltage: 227.6, loadPercent: 13, inputFrequency: 50.1, batteryVoltage: 13.5, temperature: 25 },
    status: 'OL',
    type: 'offline / line interactive',
    beeper: 'enabled',
  },
  {
    // NUT rejects `--.-` and loses the whole item; here only the temperature is absent.
    source: 'Green Cell (#2958), no temperature',
    reply: '(244.3 000.0 244.3 001 50.1 13.7 --.- 00001001',
    values: { inputVoltage: 244.3, inputFaultVoltage: 0, outputVoltage: 244.3, loadPercent: 1, inputFrequency: 50.1, batteryVoltage: 13.7 },
    status: 'OL',
    type: 'offline / line interactive',
    beeper: 'enabled',
  },
];

for (const v of Q1_VECTORS) {
  test(`Q1 ${v.source}`, () => {
    const reading = ok(parseQ1(v.reply));
    const { bits, ...values } = reading;
    assert.deepEqual(values, v.values);
    assert.equal(Object.keys(bits).length, 8);
    const status = deriveStatus(reading);
    assert.equal(status.status, v.status);
    assert.equal(status.upsType, v.type);
    assert.equal(status.beeper, v.beeper);
  });
}

test('Q1 status bits map one by one, b7 first', () => {
  const names = ['utilityFail', 'batteryLow', 'bypassBoostOrBuck', 'upsFailed', 'lineInteractive', 'testInProgress', 'shutdownActive', 'beeperOn'];
  for (let i = 0; i < 8; i++) {
    const bits = '00000000'.split('').map((_, j) => (j === i ? '1' : '0')).join('');
    const reading = ok(parseQ1(`(230.0 230.0 230.0 010 50.0 13.6 25.0 ${bits}`));
    assert.deepEqual(
      Object.entries(reading.bits).filter(([, on]) => on).map(([name]) => name),
      [names[i]],
      `bit string ${bits}`,
    );
  }
});

test('status tokens come in NUT order with ALARM first', () => {
  assert.equal(statusOf('(230.0 230.0 230.0 010 50.0 13.6 25.0 11000110').status, 'OB LB CAL FSD');
  const all = statusOf('(230.0 230.0 230.0 010 50.0 13.6 25.0 11110110');
  assert.equal(all.status, 'ALARM OB LB BYPASS CAL FSD');
  assert.equal(all.alarm, 'UPS selftest failed!');
  assert.equal(statusOf('(230.0 230.0 230.0 010 50.0 13.6 25.0 00001001').alarm, undefined);
});

test('ignoresab drops only FSD from a stuck Shutdown Active bit', () => {
  const stuck = '(230.0 230.0 230.0 010 50.0 13.6 25.0 00001011';
  assert.equal(statusOf(stuck).status, 'OL FSD');
  assert.equal(statusOf(stuck, true).status, 'OL');
  assert.equal(statusOf('(000.0 000.0 230.0 010 00.0 12.6 25.0 11001011', true).status, 'OB LB');
});

test('b5 tells TRIM, BYPASS and BOOST apart by vo/vi, and adds nothing when no band fits', () => {
  assert.equal(regulationToken(250, 220), 'TRIM'); // 0.88
  assert.equal(regulationToken(230, 230), 'BYPASS');
  assert.equal(regulationToken(200, 220), 'BOOST'); // 1.1
  assert.equal(regulationToken(230, 100), undefined); // < 0.5: NUT "output voltage too low"
  assert.equal(regulationToken(0, 230), undefined); // on battery: NUT "too high" fails the poll
  assert.equal(regulationToken(undefined, 230), undefined);
  // On battery with b5 set, NUT 2.8 fails the whole poll; the OB must still come through.
  assert.equal(statusOf('(000.0 000.0 230.0 020 00.0 12.4 25.0 10101001').status, 'OB');
  // Boundaries: 0.95 and 1.05 belong to the upper band.
  assert.equal(regulationToken(200, 190), 'BYPASS');
  assert.equal(regulationToken(200, 210), 'BOOST');
});

test('Q1 rejections say why', () => {
  const good = '(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000';
  assert.equal(good.length, Q1_MIN_LENGTH);
  assert.equal(rejected(parseQ1('Q1')), 'echo');
  assert.equal(rejected(parseQ1('')), 'too-short');
  assert.equal(rejected(parseQ1(good.slice(0, 45))), 'too-short', 'a partial frame');
  assert.equal(rejected(parseQ1('#' + good.slice(1))), 'bad-start');
  assert.equal(rejected(parseQ1(good.replace('226.0 195.0', '226.0x195.0'))), 'bad-layout');
  assert.equal(rejected(parseQ1(good.replace('27.5', '2A.5'))), 'bad-number');
  assert.equal(rejected(parseQ1(good.replace('27.5', '2.7.'))), 'bad-number');
  assert.equal(rejected(parseQ1(good.replace('27.5', '-2.5'))), 'bad-number', 'a dash among digits is not a placeholder');
  assert.equal(rejected(parseQ1(good.replace('00001000', '0000100x'))), 'bad-status-bits');
  assert.equal(rejected(parseQ1(good.replace('00001000', '00002000'))), 'bad-status-bits');
  // A lost character shifts every column after it.
  assert.equal(rejected(parseQ1(good.replace('226.0 195.0', '226.0 95.0') + '0')), 'bad-layout');
});

test('Q1 placeholders and blanks mean "not available", not an error', () => {
  const reading = ok(parseQ1('(@@@.@ 195.0     @ 014 --.- 13.6 --.- 00001000'));
  assert.equal(reading.inputVoltage, undefined);
  assert.equal(reading.outputVoltage, undefined);
  assert.equal(reading.inputFrequency, undefined);
  assert.equal(reading.temperature, undefined);
  assert.equal(reading.inputFaultVoltage, 195);
  assert.equal(reading.batteryVoltage, 13.6);
  // Without both voltages b5 cannot be placed and adds nothing.
  assert.equal(statusOf('(@@@.@ 195.0 230.0 014 --.- 13.6 --.- 00101000').status, 'OL');
});

test('Q1 ignores characters after the 46th, as NUT does', () => {
  const reading = ok(parseQ1('(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000 extra'));
  assert.equal(reading.batteryVoltage, 27.5);
});

test('F: rating fields', () => {
  assert.deepEqual(ok(parseRating('#230.0 000 024.0 50.0')), { inputVoltage: 230, inputCurrent: 0, batteryVoltage: 24, inputFrequency: 50 });
  assert.deepEqual(ok(parseRating('#230.0 010 48.00 50.0')), { inputVoltage: 230, inputCurrent: 10, batteryVoltage: 48, inputFrequency: 50 });
  assert.equal(rejected(parseRating('F')), 'echo');
  assert.equal(rejected(parseRating('#230.0 000 024.0')), 'too-short');
  assert.equal(rejected(parseRating('(230.0 000 024.0 50.0')), 'bad-start');
  assert.equal(rejected(parseRating('#230.0 0x0 024.0 50.0')), 'bad-number');
  assert.equal(rejected(parseRating('#230.0-000 024.0 50.0')), 'bad-layout');
});

test('I: classic megatec/old columns, trimmed; dashes or blanks are absent', () => {
  assert.deepEqual(ok(parseIdentity('#-------------   ------     VT12046Q  ')), { firmware: 'VT12046Q' });
  assert.deepEqual(ok(parseIdentity('#NOT_A_LIVE_UPS  TESTING    TESTING   ')), {
    manufacturer: 'NOT_A_LIVE_UPS',
    model: 'TESTING',
    firmware: 'TESTING',
  });
  assert.deepEqual(ok(parseIdentity('#' + ' '.repeat(37))), {});
  assert.equal(rejected(parseIdentity('I')), 'echo');
  assert.equal(rejected(parseIdentity('#IPPON')), 'too-short');
  assert.equal(rejected(parseIdentity('(' + ' '.repeat(37))), 'bad-start');
  assert.equal(rejected(parseIdentity('#IPPON\x00          BB 650S    V3.2      ')), 'bad-text');
});

test('the codec reads what the independent UPS simulator writes', () => {
  const status = formatStatus({
    inputVoltage: 228,
    inputFaultVoltage: 227.4,
    outputVoltage: 228,
    loadPercent: 28,
    frequency: 50.1,
    batteryVoltage: 13.6,
    temperature: 25,
    bits: '00001001',
  });
  assert.deepEqual(
    { ...ok(parseQ1(status)), bits: undefined },
    { inputVoltage: 228, inputFaultVoltage: 227.4, outputVoltage: 228, loadPercent: 28, inputFrequency: 50.1, batteryVoltage: 13.6, temperature: 25, bits: undefined },
  );
  assert.deepEqual(ok(parseRating(formatRating({ voltage: 220, current: 3, batteryVoltage: 12, frequency: 50 }))), {
    inputVoltage: 220,
    inputCurrent: 3,
    batteryVoltage: 12,
    inputFrequency: 50,
  });
  assert.deepEqual(ok(parseIdentity(formatInfo({ manufacturer: 'IPPON', model: 'BB 650S', firmware: 'V3.2' }))), {
    manufacturer: 'IPPON',
    model: 'BB 650S',
    firmware: 'V3.2',
  });
});

test('echo detection compares with the command without its CR', () => {
  assert.equal(isEcho('Q1', 'Q1\r'), true);
  assert.equal(isEcho('Q1', 'Q1'), true);
  assert.equal(isEcho('Q', 'Q1\r'), false);
});

test('command replies: nothing or ACK is success; echo, NAK and anything else are not', () => {
  assert.equal(checkCommandReply('', 'S.5R0003\r'), undefined);
  assert.equal(checkCommandReply('ACK', 'T\r'), undefined);
  assert.equal(checkCommandReply('(ACK', 'T\r'), undefined);
  assert.equal(checkCommandReply('S.5R0003', 'S.5R0003\r')?.reason, 'echo');
  assert.match(checkCommandReply('S.5R0003', 'S.5R0003\r')!.message, /echoed 'S.5R0003': command not supported/);
  assert.equal(checkCommandReply('(NAK', 'T\r')?.reason, 'refused');
  assert.equal(checkCommandReply('(230.0', 'T\r')?.reason, 'unexpected-reply');
});
