import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  commandText,
  describeRestore,
  fixed,
  formatBits,
  formatInfo,
  formatRating,
  formatStatus,
  parseCommand,
} from '../../../src/sim/ups/protocol.js';

describe('sim protocol: commands', () => {
  it('parses the Megatec commands NUT sends', () => {
    assert.deepEqual(parseCommand('Q1'), { kind: 'status' });
    assert.deepEqual(parseCommand('F'), { kind: 'rating' });
    assert.deepEqual(parseCommand('I'), { kind: 'info' });
    assert.deepEqual(parseCommand('Q'), { kind: 'beeper-toggle' });
    assert.deepEqual(parseCommand('T'), { kind: 'test', mode: 'quick', durationMs: 10_000 });
    assert.deepEqual(parseCommand('TL'), { kind: 'test', mode: 'deep' });
    assert.deepEqual(parseCommand('T02'), { kind: 'test', mode: 'timed', durationMs: 120_000 });
    assert.deepEqual(parseCommand('CT'), { kind: 'cancel-test' });
    assert.deepEqual(parseCommand('C'), { kind: 'cancel-shutdown' });
  });

  it('decodes shutdown delays: .n sixths of a minute, NN minutes, R<m> restore', () => {
    assert.deepEqual(parseCommand('S.5R0003'), {
      kind: 'shutdown',
      text: 'S.5R0003',
      offDelayMs: 30_000,
      restore: { kind: 'after-minutes', minutes: 3 },
    });
    assert.deepEqual(parseCommand('S.3'), { kind: 'shutdown', text: 'S.3', offDelayMs: 18_000, restore: { kind: 'on-mains' } });
    assert.deepEqual(parseCommand('S01'), { kind: 'shutdown', text: 'S01', offDelayMs: 60_000, restore: { kind: 'on-mains' } });
    assert.deepEqual(parseCommand('S.5R0000'), {
      kind: 'shutdown',
      text: 'S.5R0000',
      offDelayMs: 30_000,
      restore: { kind: 'stayoff' },
    });
    assert.deepEqual(parseCommand('S00R0000'), { kind: 'shutdown', text: 'S00R0000', offDelayMs: 0, restore: { kind: 'stayoff' } });
    assert.deepEqual(parseCommand('S10R9999'), {
      kind: 'shutdown',
      text: 'S10R9999',
      offDelayMs: 600_000,
      restore: { kind: 'after-minutes', minutes: 9999 },
    });
  });

  it('treats what a Megatec UPS cannot handle as unknown', () => {
    for (const text of ['QGS', 'M', 'D', 'ID', 'QPI', 'FW?', 'S11', 'S1', 'S.5R03', 'T00', 'T1', 'q1', '']) {
      assert.deepEqual(parseCommand(text), { kind: 'unknown', text }, text);
    }
  });

  it('reads the command text without CR, USB NUL padding or a stray LF', () => {
    assert.equal(commandText(Buffer.from('Q1\r')), 'Q1');
    assert.equal(commandText(Buffer.from('\0\0\0\0\0S.5R0003\r')), 'S.5R0003');
    assert.equal(commandText(Buffer.from('\nC\r')), 'C');
  });

  it('names restore plans as the captures do', () => {
    assert.equal(describeRestore({ kind: 'after-minutes', minutes: 3 }), '3min');
    assert.equal(describeRestore({ kind: 'on-mains' }), 'on-mains+10s');
    assert.equal(describeRestore({ kind: 'stayoff' }), 'stayoff');
  });
});

describe('sim protocol: replies', () => {
  it('lays out Q1 exactly as the nut.md vectors (46 characters before the CR)', () => {
    const line = formatStatus({
      inputVoltage: 226,
      inputFaultVoltage: 195,
      outputVoltage: 226,
      loadPercent: 14,
      frequency: 49,
      batteryVoltage: 27.5,
      temperature: 30,
      bits: '00001000',
    });
    assert.equal(line, '(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000');
    assert.equal(line.length, 46);
    const onBattery = formatStatus({
      inputVoltage: 0,
      inputFaultVoltage: 0,
      outputVoltage: 220,
      loadPercent: 28,
      frequency: 50,
      batteryVoltage: 9.84,
      temperature: 25,
      bits: '10001001',
    });
    assert.equal(onBattery, '(000.0 000.0 220.0 028 50.0 09.8 25.0 10001001');
  });

  it('clamps values to what a fixed-width field can show', () => {
    assert.equal(fixed(1234.5, 5, 1), '999.9');
    assert.equal(fixed(-3, 5, 1), '000.0');
    assert.equal(fixed(Number.NaN, 4, 1), '00.0');
    assert.equal(fixed(99.96, 4, 1), '99.9');
    assert.equal(fixed(7, 3, 0), '007');
    assert.equal(fixed(12, 5, 2), '12.00');
  });

  it('orders the status bits b7..b0', () => {
    const none = {
      utilityFail: false,
      batteryLow: false,
      avrActive: false,
      upsFailed: false,
      standby: false,
      testInProgress: false,
      shutdownActive: false,
      beeperOn: false,
    };
    assert.equal(formatBits(none), '00000000');
    assert.equal(formatBits({ ...none, utilityFail: true }), '10000000');
    assert.equal(formatBits({ ...none, batteryLow: true, beeperOn: true }), '01000001');
    assert.equal(formatBits({ ...none, standby: true, testInProgress: true, shutdownActive: true }), '00001110');
  });

  it('formats F and I as an Ippon answers them', () => {
    const rating = formatRating({ voltage: 220, current: 3, batteryVoltage: 12, frequency: 50 });
    assert.equal(rating, '#220.0 003 12.00 50.0');
    const info = formatInfo({ manufacturer: 'IPPON', model: 'BB 650S', firmware: 'V3.2' });
    assert.equal(info, '#IPPON           BB 650S    V3.2      ');
    assert.equal(info.length, 38);
    assert.equal(info.slice(1, 16).trim(), 'IPPON');
    assert.equal(info.slice(17, 27).trim(), 'BB 650S');
    assert.equal(info.slice(28, 38).trim(), 'V3.2');
    assert.equal(formatInfo({ manufacturer: 'A VERY LONG COMPANY NAME', model: 'M', firmware: 'F' }).length, 38);
  });
});
