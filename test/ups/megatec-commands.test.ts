import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_OFFDELAY_S,
  DEFAULT_ONDELAY_S,
  roundShutdownDelay,
  roundStartDelay,
  shutdownDelayCode,
  shutdownReturn,
  shutdownStayOff,
  timedTest,
} from '../../src/ups/megatec/commands.js';
import { UpsCommandError, instcmdWire, INSTCMDS, type InstcmdName } from '../../src/ups/instcmd.js';

test('S<n>: sixths of a minute below 60 s, whole minutes from 60 s', () => {
  const table: [number, string][] = [
    [12, '.2'],
    [17, '.2'],
    [18, '.3'],
    [30, '.5'],
    [54, '.9'],
    [59, '.9'],
    [60, '01'],
    [119, '01'],
    [120, '02'],
    [600, '10'],
  ];
  for (const [seconds, code] of table) assert.equal(shutdownDelayCode(seconds), code, `${seconds} s`);
  for (const bad of [0, 11, 601, 30.5]) assert.throws(() => shutdownDelayCode(bad), RangeError, `${bad} s`);
});

test('shutdown.return / stayoff bytes, including the NUT 2.8.0 captures', () => {
  // upsdrvctl shutdown with the defaults, and the SET VAR ups.delay.shutdown 60 session.
  assert.equal(shutdownReturn(DEFAULT_OFFDELAY_S, DEFAULT_ONDELAY_S), 'S.5R0003\r');
  assert.equal(shutdownReturn(60, 180), 'S01R0003\r');
  // driver -k -x offdelay=60 -x ondelay=0, and -x stayoff.
  assert.equal(shutdownReturn(60, 0), 'S01\r');
  assert.equal(shutdownStayOff(30), 'S.5R0000\r');
  // NUT's megatec testing table.
  assert.equal(shutdownReturn(180, 0), 'S03\r');
  assert.equal(shutdownReturn(120, 300), 'S02R0005\r');
  // Below one minute the restore delay is whole minutes, so 59 s is none.
  assert.equal(shutdownReturn(30, 59), 'S.5\r');
  assert.equal(shutdownReturn(600, 599_940), 'S10R9999\r');
  assert.throws(() => shutdownReturn(30, 599_941), RangeError);
  assert.throws(() => shutdownReturn(30, -1), RangeError);
});

test('T<mm>: battery test minutes, 60..5940 s, default 600 s', () => {
  assert.equal(timedTest(), 'T10\r');
  assert.equal(timedTest(120), 'T02\r'); // the captured INSTCMD test.battery.start 120
  assert.equal(timedTest(240), 'T04\r');
  assert.equal(timedTest(60), 'T01\r');
  assert.equal(timedTest(179), 'T02\r');
  assert.equal(timedTest(5940), 'T99\r');
  for (const bad of [59, 5941, 0, 90.5]) assert.throws(() => timedTest(bad), RangeError, `${bad} s`);
});

test('setvar rounding as NUT: start to minutes, shutdown to 6 s below a minute and to minutes above', () => {
  assert.deepEqual([0, 59, 60, 179, 180, 599_999].map(roundStartDelay), [0, 0, 60, 120, 180, 599_940]);
  assert.deepEqual([12, 13, 17, 18, 59, 60, 61, 119, 600].map(roundShutdownDelay), [12, 12, 12, 18, 54, 60, 60, 60, 600]);
});

test('every instant command maps to NUT megatec bytes', () => {
  const ctx = { offdelayS: 30, ondelayS: 180 };
  const expected: Record<Exclude<InstcmdName, 'beeper.enable' | 'beeper.disable'>, string> = {
    'beeper.toggle': 'Q\r',
    'load.off': 'S00R0000\r',
    'load.on': 'C\r',
    'shutdown.return': 'S.5R0003\r',
    'shutdown.stayoff': 'S.5R0000\r',
    'shutdown.stop': 'C\r',
    'test.battery.start': 'T10\r',
    'test.battery.start.deep': 'TL\r',
    'test.battery.start.quick': 'T\r',
    'test.battery.stop': 'CT\r',
  };
  for (const [name, wire] of Object.entries(expected)) assert.equal(instcmdWire(name as InstcmdName, ctx), wire, name);
  assert.deepEqual([...INSTCMDS].sort(), [...Object.keys(expected), 'beeper.enable', 'beeper.disable'].sort());
  assert.equal(instcmdWire('test.battery.start', { ...ctx, value: '120' }), 'T02\r');
  assert.equal(instcmdWire('test.battery.start', { ...ctx, value: ' ' }), 'T10\r');
});

test('beeper.enable/disable toggle only when the beeper is in the other state', () => {
  const ctx = { offdelayS: 30, ondelayS: 180 };
  assert.equal(instcmdWire('beeper.enable', { ...ctx, beeperOn: true }), undefined);
  assert.equal(instcmdWire('beeper.enable', { ...ctx, beeperOn: false }), 'Q\r');
  assert.equal(instcmdWire('beeper.disable', { ...ctx, beeperOn: true }), 'Q\r');
  assert.equal(instcmdWire('beeper.disable', { ...ctx, beeperOn: false }), undefined);
  assert.throws(() => instcmdWire('beeper.enable', ctx), (err: unknown) => err instanceof UpsCommandError && err.code === 'failed');
});

test('a bad battery test duration is an invalid value', () => {
  const ctx = { offdelayS: 30, ondelayS: 180 };
  for (const value of ['59', '5941', '2m', '-60', '1e3']) {
    assert.throws(
      () => instcmdWire('test.battery.start', { ...ctx, value }),
      (err: unknown) => err instanceof UpsCommandError && err.code === 'invalid-value',
      value,
    );
  }
});
