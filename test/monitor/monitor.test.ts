import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Monitor, TRACKED_TOKENS, type MonitorOptions } from '../../src/monitor/monitor.js';
import { formatMessage } from '../../src/monitor/messages.js';
import type { UpsEvent } from '../../src/monitor/types.js';
import type { PollSample } from '../../src/ups/types.js';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const S = 1000;

function good(time: number, status: string, variables: Record<string, string> = {}): PollSample {
  return { time, ok: true, stale: false, status, variables: { 'ups.status': status, ...variables } };
}

/** A failed poll as the driver reports it: ok false, status of the last good poll. */
function bad(time: number, lastStatus = '', stale = false): PollSample {
  return { time, ok: false, stale, status: lastStatus, variables: {}, error: 'timeout' };
}

function monitor(options: Partial<MonitorOptions> = {}): Monitor {
  return new Monitor({ ups: 'ippon', ...options });
}

const names = (events: UpsEvent[]) => events.map((e) => e.event);

/**
 * Runs the monitor the way the runner does: a tick every second and, from `from` to `to`, a
 * poll every 2 s produced by `pollAt` (undefined = the driver stays silent). Returns every event.
 */
function run(m: Monitor, from: number, to: number, pollAt: (t: number) => PollSample | undefined): UpsEvent[] {
  const events: UpsEvent[] = [];
  for (let t = from; t <= to; t += S) {
    if ((t - from) % (2 * S) === 0) {
      const sample = pollAt(t);
      if (sample) events.push(...m.observe(sample));
    }
    events.push(...m.tick(t));
  }
  return events;
}

test('the first OL at startup is silent; a return from battery raises ONLINE', () => {
  const m = monitor();
  assert.deepEqual(m.observe(good(T0, 'OL')), []);
  assert.equal(m.state.online, true);
  assert.equal(m.state.commOk, true);
  assert.equal(m.state.critical, false);

  const onbatt = m.observe(good(T0 + 2 * S, 'OB DISCHRG'));
  assert.deepEqual(onbatt, [
    { time: T0 + 2 * S, ups: 'ippon', event: 'ONBATT', status: 'OB DISCHRG', message: 'UPS ippon on battery' },
  ]);
  assert.equal(m.state.onBatterySince, T0 + 2 * S);
  assert.deepEqual(m.observe(good(T0 + 4 * S, 'OB DISCHRG')), [], 'still on battery is no news');
  assert.equal(m.state.onBatterySince, T0 + 2 * S);

  const online = m.observe(good(T0 + 6 * S, 'OL CHRG'));
  assert.deepEqual(names(online), ['ONLINE']);
  assert.equal(online[0]!.message, 'UPS ippon on line power');
  assert.equal(m.state.onBattery, false);
  assert.equal(m.state.onBatterySince, undefined);
});

test('first contact on battery raises ONBATT', () => {
  const m = monitor();
  assert.deepEqual(names(m.observe(good(T0, 'OB'))), ['ONBATT']);
  assert.equal(m.state.onBatterySince, T0);
});

test('LOWBATT when LB appears, again after it cleared; OB+LB is critical unless calibrating', () => {
  const m = monitor();
  m.observe(good(T0, 'OB'));
  const low = m.observe(good(T0 + 2 * S, 'OB LB'));
  assert.deepEqual(names(low), ['LOWBATT']);
  assert.equal(low[0]!.message, 'UPS ippon battery is low');
  assert.equal(m.state.critical, true);
  assert.equal(m.state.criticalReason, 'low battery');
  assert.deepEqual(m.observe(good(T0 + 4 * S, 'OB LB')), []);
  assert.deepEqual(m.observe(good(T0 + 6 * S, 'OB')), [], 'LB clears without an event');
  assert.equal(m.state.critical, false);
  assert.deepEqual(names(m.observe(good(T0 + 8 * S, 'OB LB'))), ['LOWBATT']);

  const cal = monitor();
  cal.observe(good(T0, 'OB CAL'));
  assert.deepEqual(names(cal.observe(good(T0 + 2 * S, 'OB LB CAL'))), ['LOWBATT']);
  assert.equal(cal.state.critical, false, 'a battery test running low is not an outage');

  const charging = monitor();
  assert.deepEqual(names(charging.observe(good(T0, 'OL LB'))), ['LOWBATT']);
  assert.equal(charging.state.critical, false, 'LB on line power is not critical');
});

test('one poll reports in a fixed order: COMMOK, NOT*, line, LOWBATT, REPLBATT, tokens, FSD', () => {
  const m = monitor();
  m.observe(good(T0, 'OL BOOST'));
  m.observe(bad(T0 + 2 * S, 'OL BOOST'));
  const events = m.observe(good(T0 + 4 * S, 'FSD OB LB RB TRIM'));
  assert.deepEqual(names(events), ['COMMOK', 'NOTBOOST', 'ONBATT', 'LOWBATT', 'REPLBATT', 'TRIM', 'FSD']);
  assert.ok(events.every((e) => e.status === 'FSD OB LB RB TRIM' && e.time === T0 + 4 * S));
});

test('COMMBAD on the first failed poll, COMMOK when it answers again, nothing in between', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  const lost = m.observe(bad(T0 + 2 * S, 'OL'));
  assert.deepEqual(lost, [
    { time: T0 + 2 * S, ups: 'ippon', event: 'COMMBAD', status: 'OL', message: 'Communications with UPS ippon lost' },
  ]);
  assert.equal(m.state.commOk, false);
  assert.equal(m.state.commState, 'lost');
  assert.equal(m.state.lastGoodPoll, T0);
  assert.deepEqual(m.observe(bad(T0 + 4 * S, 'OL')), []);
  assert.deepEqual(m.tick(T0 + 5 * S), []);
  const back = m.observe(good(T0 + 6 * S, 'OL'));
  assert.deepEqual(names(back), ['COMMOK'], 'no ONLINE: it never left line power');
  assert.equal(back[0]!.message, 'Communications with UPS ippon established');
  assert.equal(m.state.commOk, true);
});

test('stale data and an empty status count as failed polls', () => {
  const stale = monitor();
  stale.observe(good(T0, 'OL'));
  assert.deepEqual(names(stale.observe({ ...good(T0 + 2 * S, 'OL'), stale: true })), ['COMMBAD']);
  assert.deepEqual(names(stale.observe(bad(T0 + 4 * S, 'OL', true))), []);

  const empty = monitor();
  empty.observe(good(T0, 'OL'));
  assert.deepEqual(names(empty.observe(good(T0 + 2 * S, '  '))), ['COMMBAD']);
  assert.equal(empty.state.lastStatus, 'OL');
});

test('a UPS that never answered gets COMMBAD at once and COMMOK on first contact', () => {
  const m = monitor();
  assert.equal(m.state.commState, 'unknown');
  assert.equal(m.state.commOk, false);
  const lost = m.observe(bad(T0));
  assert.deepEqual(lost.map((e) => [e.event, e.status]), [['COMMBAD', '']]);
  assert.deepEqual(names(m.observe(good(T0 + 2 * S, 'OL'))), ['COMMOK']);
});

test('comm loss on line power: only COMMBAD, NOCOMM and COMMOK, never an outage', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  const events = run(m, T0 + 2 * S, T0 + 20 * 60 * S, (t) => (t % (10 * S) === 0 ? bad(t, 'OL') : undefined));
  events.push(...m.observe(good(T0 + 20 * 60 * S + 2 * S, 'OL')));
  assert.deepEqual(names(events), ['COMMBAD', 'NOCOMM', 'NOCOMM', 'NOCOMM', 'NOCOMM', 'COMMOK']);
  assert.equal(m.state.onBattery, false);
  assert.equal(m.state.critical, false);
});

test('NOCOMM 300 s after the last good poll, then every 300 s, from polls or ticks', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  const events = run(m, T0 + 2 * S, T0 + 901 * S, (t) => bad(t, 'OL'));
  assert.deepEqual(
    events.map((e) => [e.event, (e.time - T0) / S]),
    [['COMMBAD', 2], ['NOCOMM', 300], ['NOCOMM', 600], ['NOCOMM', 900]],
  );
  assert.equal(events[1]!.message, 'UPS ippon is unavailable');

  const quiet = monitor({ nocommWarnMs: 60 * S });
  quiet.observe(good(T0, 'OL'));
  quiet.observe(bad(T0 + 2 * S, 'OL'));
  assert.deepEqual(quiet.tick(T0 + 59 * S), []);
  assert.deepEqual(names(quiet.tick(T0 + 60 * S)), ['NOCOMM'], 'ticks alone repeat NOCOMM');
  assert.deepEqual(quiet.tick(T0 + 119 * S), []);
  assert.deepEqual(names(quiet.tick(T0 + 120 * S)), ['NOCOMM']);
  quiet.observe(good(T0 + 121 * S, 'OL'));
  quiet.observe(bad(T0 + 123 * S, 'OL'));
  assert.deepEqual(quiet.tick(T0 + 180 * S), [], 'a new outage counts from the new last good poll');
  assert.deepEqual(names(quiet.tick(T0 + 181 * S)), ['NOCOMM']);
});

test('NOCOMM for a UPS never reached counts from its COMMBAD', () => {
  const m = monitor();
  m.observe(bad(T0));
  assert.deepEqual(m.observe(bad(T0 + 298 * S)), []);
  assert.deepEqual(names(m.observe(bad(T0 + 300 * S))), ['NOCOMM']);
});

test('a driver that goes silent raises COMMBAD after MAXAGE', () => {
  const m = monitor({ maxAgeMs: 15 * S });
  m.observe(good(T0, 'OL'));
  assert.deepEqual(m.tick(T0 + 15 * S), []);
  assert.deepEqual(names(m.tick(T0 + 16 * S)), ['COMMBAD']);
  assert.deepEqual(m.tick(T0 + 17 * S), []);

  const never = monitor();
  assert.deepEqual(never.tick(T0), []);
  assert.deepEqual(never.tick(T0 + 15 * S), []);
  assert.deepEqual(names(never.tick(T0 + 16 * S)), ['COMMBAD']);
});

test('DEADTIME: last seen on battery and silent for > 15 s is critical, without invented events', () => {
  const m = monitor();
  m.observe(good(T0, 'OB'));
  const events = run(m, T0 + 2 * S, T0 + 14 * S, (t) => bad(t, 'OB'));
  assert.deepEqual(names(events), ['COMMBAD']);
  assert.deepEqual(m.tick(T0 + 15 * S), []);
  assert.equal(m.state.critical, false, 'exactly DEADTIME is not yet dead');
  assert.deepEqual(m.tick(T0 + 15 * S + 1), []);
  assert.equal(m.state.critical, true);
  assert.equal(m.state.criticalReason, 'dead on battery');
  assert.equal(m.state.lowBattery, false, 'the reported LB stays as the UPS said');
  assert.equal(m.state.onBattery, true);

  assert.deepEqual(names(m.observe(good(T0 + 20 * S, 'OB'))), ['COMMOK'], 'no second ONBATT');
  assert.equal(m.state.critical, false);
  assert.deepEqual(names(m.observe(good(T0 + 22 * S, 'OB LB'))), ['LOWBATT']);
});

test('DEADTIME never applies to a UPS last seen on line power', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  run(m, T0 + 2 * S, T0 + 3600 * S, () => undefined);
  assert.equal(m.state.critical, false);
  assert.deepEqual(m.state.criticalReasons, []);
});

test('REPLBATT when RB is present, at most every RBWARNTIME', () => {
  const m = monitor();
  const replace = m.observe(good(T0, 'OL RB'));
  assert.deepEqual(names(replace), ['REPLBATT']);
  assert.equal(replace[0]!.message, 'UPS ippon battery needs to be replaced');
  assert.equal(m.state.replaceBattery, true);
  assert.deepEqual(m.observe(good(T0 + 3600 * S, 'OL RB')), []);
  assert.deepEqual(m.observe(good(T0 + 3602 * S, 'OL')), []);
  assert.equal(m.state.replaceBattery, false);
  assert.deepEqual(m.observe(good(T0 + 43_199 * S, 'OL RB')), [], 'RB coming back does not reset the limit');
  assert.deepEqual(names(m.observe(good(T0 + 43_200 * S, 'OL RB'))), ['REPLBATT']);

  const hourly = monitor({ rbWarnMs: 3600 * S });
  hourly.observe(good(T0, 'OL RB'));
  assert.deepEqual(names(hourly.observe(good(T0 + 3600 * S, 'OL RB'))), ['REPLBATT']);
});

test('each tracked token raises its event when it appears and NOT* when it goes', () => {
  for (const token of TRACKED_TOKENS) {
    const m = monitor();
    m.observe(good(T0, 'OL'));
    const on = m.observe(good(T0 + 2 * S, `OL ${token}`));
    assert.deepEqual(names(on), [token], token);
    assert.equal(m.state.tokens[token], true);
    assert.deepEqual(m.observe(good(T0 + 4 * S, `${token} OL`)), [], `${token} again is no news`);
    const off = m.observe(good(T0 + 6 * S, 'OL'));
    assert.deepEqual(names(off), [`NOT${token}`], token);
    assert.equal(m.state.tokens[token], false);
    assert.deepEqual(m.observe(good(T0 + 8 * S, 'OL')), []);
  }
});

test('tokens at first contact raise their event; no NOT* event without a prior token', () => {
  const m = monitor();
  assert.deepEqual(names(m.observe(good(T0, 'OL BYPASS'))), ['BYPASS']);
  assert.equal(m.observe(good(T0 + 2 * S, 'OL'))[0]!.message, 'UPS ippon: no longer on bypass');

  const plain = monitor();
  assert.deepEqual(plain.observe(good(T0, 'OL')), []);
});

test('tokens survive comm loss and only clear on a good poll without them', () => {
  const m = monitor();
  m.observe(good(T0, 'OL TRIM'));
  assert.deepEqual(names(m.observe(bad(T0 + 2 * S, 'OL TRIM'))), ['COMMBAD']);
  assert.equal(m.state.tokens.TRIM, true);
  assert.deepEqual(names(m.observe(good(T0 + 4 * S, 'OL'))), ['COMMOK', 'NOTTRIM']);
});

test('ALARM names ups.alarm and repeats when the alarm text changes', () => {
  const m = monitor();
  const first = m.observe(good(T0, 'ALARM OL', { 'ups.alarm': 'UPS selftest failed!' }));
  assert.deepEqual(names(first), ['ALARM']);
  assert.equal(first[0]!.message, 'UPS ippon: one or more active alarms: [UPS selftest failed!]');
  assert.equal(m.state.alarm, 'UPS selftest failed!');
  assert.deepEqual(m.observe(good(T0 + 2 * S, 'ALARM OL', { 'ups.alarm': 'UPS selftest failed!' })), []);
  const changed = m.observe(good(T0 + 4 * S, 'ALARM OL', { 'ups.alarm': 'Overheat' }));
  assert.equal(changed[0]!.message, 'UPS ippon: one or more active alarms: [Overheat]');
  const cleared = m.observe(good(T0 + 6 * S, 'OL'));
  assert.deepEqual(names(cleared), ['NOTALARM']);
  assert.equal(m.state.alarm, undefined);
});

test('FSD is announced once per latch and makes the UPS critical even on line power', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  const fsd = m.observe(good(T0 + 2 * S, 'FSD OL'));
  assert.deepEqual(names(fsd), ['FSD']);
  assert.equal(fsd[0]!.message, 'UPS ippon: forced shutdown in progress');
  assert.equal(m.state.criticalReason, 'forced shutdown');
  assert.deepEqual(m.observe(good(T0 + 4 * S, 'FSD OL')), []);
  assert.deepEqual(m.observe(bad(T0 + 6 * S, 'FSD OL')).map((e) => e.event), ['COMMBAD']);
  assert.deepEqual(names(m.observe(good(T0 + 8 * S, 'FSD OL'))), ['COMMOK'], 'still the same latch');
  assert.deepEqual(m.observe(good(T0 + 10 * S, 'OL')), [], 'the latch clearing is silent');
  assert.equal(m.state.fsd, false);
  assert.deepEqual(names(m.observe(good(T0 + 12 * S, 'FSD OL'))), ['FSD'], 'a new latch');
});

test('OFF for longer than OFFDURATION is critical', () => {
  const m = monitor();
  m.observe(good(T0, 'OL'));
  assert.deepEqual(names(run(m, T0 + 2 * S, T0 + 32 * S, (t) => good(t, 'OFF'))), ['OFF']);
  assert.equal(m.state.offSince, T0 + 2 * S);
  assert.equal(m.state.critical, false);
  m.tick(T0 + 33 * S);
  assert.deepEqual(m.state.criticalReasons, ['off too long']);
  assert.deepEqual(names(m.observe(good(T0 + 34 * S, 'OL'))), ['NOTOFF']);
  assert.equal(m.state.critical, false);
});

test('all critical reasons are listed, FSD first', () => {
  const m = monitor();
  m.observe(good(T0, 'OB LB FSD'));
  assert.deepEqual(m.state.criticalReasons, ['forced shutdown', 'low battery']);
  m.tick(T0 + 16 * S);
  assert.deepEqual(m.state.criticalReasons, ['forced shutdown', 'low battery', 'dead on battery']);
});

test('NOTIFYMSG overrides and the SHUTDOWN notice', () => {
  const m = monitor({ messages: { ONBATT: 'Power cut: %s runs on battery (100%%)' } });
  m.observe(good(T0, 'OL'));
  assert.equal(m.observe(good(T0 + 2 * S, 'OB'))[0]!.message, 'Power cut: ippon runs on battery (100%)');
  assert.equal(m.observe(good(T0 + 4 * S, 'OB LB'))[0]!.message, 'UPS ippon battery is low');
  assert.deepEqual(m.shutdownEvent(T0 + 5 * S), {
    time: T0 + 5 * S,
    ups: 'ippon',
    event: 'SHUTDOWN',
    status: 'OB LB',
    message: 'Auto logout and shutdown proceeding',
  });
  assert.equal(formatMessage('%s and %s', 'a'), 'a and ');
});

test('state is a frozen snapshot replaced only on change', () => {
  const m = monitor();
  m.observe(good(T0, 'OB'));
  const before = m.state;
  assert.ok(Object.isFrozen(before));
  m.tick(T0 + S);
  assert.equal(m.state, before, 'nothing changed');
  m.tick(T0 + 16 * S);
  assert.notEqual(m.state, before, 'COMMBAD and DEADTIME changed it');
  assert.equal(before.commOk, true, 'an old snapshot never changes');
});

test('options are checked', () => {
  assert.throws(() => new Monitor({ ups: '' }), /UPS name/);
  assert.throws(() => monitor({ deadtimeMs: -1 }), /deadtimeMs/);
  assert.throws(() => monitor({ nocommWarnMs: Number.NaN }), /nocommWarnMs/);
});
