import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UpsModel, runtimeAtFullLoadFor, type UpsModelOptions } from '../../../src/sim/ups/model.js';
import { ManualClock } from '../../helpers/manual-clock.js';

function setup(options: Omit<UpsModelOptions, 'clock'> = {}) {
  const clock = new ManualClock();
  const model = new UpsModel({ clock, ...options });
  const send = (text: string) => model.receive(Buffer.from(text + '\r', 'latin1'));
  const events = () => model.log.events();
  return { clock, model, send, events };
}

const S = 1000;
const MIN = 60_000;

/** b7..b0 → named flags, so assertions say which bit they mean. */
function bits(model: UpsModel) {
  const b = model.snapshot().bits;
  return { utilityFail: b[0], lowBattery: b[1], standby: b[4], test: b[5], shutdown: b[6], beeper: b[7] };
}

describe('UpsModel: on line', () => {
  it('reports the captured Ippon values', () => {
    const { model } = setup();
    const s = model.snapshot();
    assert.equal(s.input.voltage, 228.0);
    assert.equal(s.input.faultVoltage, 227.4);
    assert.equal(s.input.frequency, 50.1);
    assert.equal(s.output.voltage, 228.0);
    assert.equal(s.output.loadPercent, 28);
    assert.equal(s.battery.voltage, 13.6);
    assert.equal(s.battery.chargePercent, 100);
    assert.equal(s.temperature, 25);
    assert.equal(s.bits, '00001001');
    assert.deepEqual(model.rating, { voltage: 220, current: 3, batteryVoltage: 12, frequency: 50 });
    assert.deepEqual(model.identity, { manufacturer: 'IPPON', model: 'BB 650S', firmware: 'V3.2' });
  });

  it('records every command received with its time and raw bytes', async () => {
    const { clock, model, send } = setup();
    send('Q1');
    await clock.advance(1500);
    model.receive(Buffer.from('S.5R0003\r'));
    const rx = model.log.received();
    assert.equal(rx.length, 2);
    assert.equal(rx[0]!.text, 'Q1\r');
    assert.equal(rx[0]!.hex, '51 31 0d');
    assert.equal(rx[1]!.hex, '53 2e 35 52 30 30 30 33 0d');
    assert.equal(rx[1]!.time - rx[0]!.time, 1500);
  });

  it('toggles the beeper with Q', () => {
    const { model, send, events } = setup();
    send('Q');
    assert.equal(bits(model).beeper, '0');
    send('Q');
    assert.equal(bits(model).beeper, '1');
    assert.deepEqual(events(), ['BEEPER disabled', 'BEEPER enabled']);
  });

  it('logs commands it does not know', () => {
    const { send, events } = setup();
    assert.deepEqual(send('QGS'), { kind: 'unknown', text: 'QGS' });
    assert.deepEqual(events(), ['UNKNOWN cmd="QGS"']);
  });
});

describe('UpsModel: battery', () => {
  it('lasts about 10 minutes at 28 % load, less than half that at twice the load', () => {
    const { model } = setup();
    const at28 = model.runtimeAtLoadS(28);
    assert.ok(at28 > 9 * 60 && at28 < 11 * 60, `runtime at 28 % is ${at28} s`);
    assert.ok(model.runtimeAtLoadS(56) < at28 / 2, 'Peukert: doubling the load more than halves the runtime');
    assert.equal(model.runtimeAtLoadS(100), 120);
    assert.equal(model.snapshot().battery.runtimeS, Math.round(at28));
  });

  it('discharges on battery: LB at 20 %, output off when empty', async () => {
    const { clock, model, events } = setup();
    const runtimeMs = model.runtimeAtLoadS(28) * 1000;
    model.setMains(false);
    let s = model.snapshot();
    assert.equal(s.input.voltage, 0);
    assert.equal(s.input.faultVoltage, 0);
    assert.equal(s.output.voltage, 220, 'the inverter makes the rated voltage');
    assert.equal(s.battery.state, 'discharging');
    assert.equal(bits(model).utilityFail, '1');

    await clock.advance(runtimeMs / 2);
    s = model.snapshot();
    assert.ok(Math.abs(s.battery.chargePercent - 50) < 0.1, `charge ${s.battery.chargePercent}`);
    assert.ok(Math.abs(s.battery.runtimeS - runtimeMs / 2000) <= 1);

    await clock.advance(runtimeMs * 0.3 - 10);
    assert.equal(bits(model).lowBattery, '0', 'still above 20 %');
    await clock.advance(20);
    assert.equal(bits(model).lowBattery, '1');
    assert.match(events().at(-1)!, /^LOW_BATTERY charge=20(\.0)?%$/);

    await clock.advance(runtimeMs * 0.2);
    s = model.snapshot();
    assert.equal(s.battery.chargePercent, 0);
    assert.equal(s.output.on, false);
    assert.equal(s.output.voltage, 0);
    assert.equal(s.output.loadPercent, 0);
    assert.deepEqual(events().slice(-2), ['BATTERY_EXHAUSTED', 'OUTPUT_OFF reason=battery_exhausted restore=on-mains+10s']);
    assert.equal(bits(model).shutdown, '0', 'no shutdown command was involved');

    // With the output off nothing drains; mains brings the output back after 10 s and recharges.
    await clock.advance(10 * MIN);
    assert.equal(model.snapshot().battery.chargePercent, 0);
    model.setMains(true);
    await clock.advance(10 * S);
    s = model.snapshot();
    assert.equal(s.output.on, true);
    assert.equal(s.battery.state, 'charging');
    assert.equal(s.battery.voltage, 13.6, 'float voltage on mains');
  });

  it('lets the LB threshold be configured', async () => {
    const { clock, model } = setup({ lowBatteryPercent: 50 });
    const runtimeMs = model.runtimeAtLoadS(28) * 1000;
    model.setMains(false);
    await clock.advance(runtimeMs * 0.49);
    assert.equal(bits(model).lowBattery, '0');
    await clock.advance(runtimeMs * 0.02);
    assert.equal(bits(model).lowBattery, '1');
  });

  it('sags under load: open-circuit voltage from the charge minus current × resistance', () => {
    const { model } = setup({ chargePercent: 50 });
    model.setMains(false);
    const ocv = 10.5 + (13.6 - 10.5) * 0.5;
    model.setLoad(0);
    assert.equal(model.snapshot().battery.voltage, Math.round(ocv * 1000) / 1000);
    model.setLoad(100);
    const expected = ocv - (360 / ocv) * 0.03;
    assert.ok(Math.abs(model.snapshot().battery.voltage - expected) < 0.001, `${model.snapshot().battery.voltage} vs ${expected}`);
    assert.ok(model.snapshot().battery.voltage < ocv - 0.5);
  });

  it('recharges on mains and clears LB when the charge climbs past the threshold', async () => {
    const { clock, model, events } = setup({ chargePercent: 10, rechargeTimeS: 1000 });
    assert.equal(bits(model).lowBattery, '1');
    await clock.advance(99 * S);
    assert.equal(bits(model).lowBattery, '1');
    await clock.advance(2 * S);
    assert.equal(bits(model).lowBattery, '0');
    assert.match(events().at(-1)!, /^LOW_BATTERY_CLEARED/);
    await clock.advance(2000 * S);
    assert.equal(model.snapshot().battery.chargePercent, 100, 'capped at full');
  });

  it('follows load changes mid-discharge', async () => {
    const { clock, model } = setup();
    model.setMains(false);
    await clock.advance(60 * S);
    const before = model.snapshot().battery.chargeAh;
    model.setLoad(100);
    await clock.advance(60 * S);
    const drained = before - model.snapshot().battery.chargeAh;
    assert.ok(Math.abs(drained - 7 * (60 / 120)) < 1e-3, `drained ${drained} Ah in a minute at full load`);
  });

  it('forces LB on and off, and back to auto', () => {
    const { model, events } = setup({ chargePercent: 10 });
    model.setLowBatteryMode('off');
    assert.equal(bits(model).lowBattery, '0');
    model.setLowBatteryMode('auto');
    assert.equal(bits(model).lowBattery, '1');
    model.setCharge(80);
    assert.equal(bits(model).lowBattery, '0');
    model.setLowBatteryMode('on');
    assert.equal(bits(model).lowBattery, '1');
    assert.ok(events().includes('LB_FORCED mode=on'));
  });

  it('rejects impossible settings', () => {
    const { model } = setup();
    assert.throws(() => model.setLoad(101), RangeError);
    assert.throws(() => model.setCharge(-1), RangeError);
    assert.throws(() => new UpsModel({ clock: new ManualClock(), runtimeAtFullLoadS: 0 }), RangeError);
    assert.throws(() => new UpsModel({ clock: new ManualClock(), fullVoltage: 10, emptyVoltage: 11 }), RangeError);
  });

  it('converts a runtime at some load to the runtime at full load', () => {
    const full = runtimeAtFullLoadFor(600, 28);
    const { model } = setup({ runtimeAtFullLoadS: full });
    assert.ok(Math.abs(model.runtimeAtLoadS(28) - 600) < 1e-6);
    assert.throws(() => runtimeAtFullLoadFor(600, 0), RangeError);
  });
});

describe('UpsModel: shutdown and restore', () => {
  it('S.5R0003: output off 30 s later, back 3 min after that with mains', async () => {
    const { clock, model, send, events } = setup();
    send('C');
    send('S.5R0003');
    assert.deepEqual(events(), ['C (nothing pending)', 'SHUTDOWN_ARMED cmd=S.5R0003 off_in=30s restore=3min']);
    assert.equal(bits(model).shutdown, '1');
    await clock.advance(30 * S - 1);
    assert.equal(model.snapshot().output.on, true);
    await clock.advance(1);
    let s = model.snapshot();
    assert.equal(s.output.on, false);
    assert.equal(s.output.voltage, 0);
    assert.equal(s.shutdown?.waiting, 'delay');
    assert.equal(bits(model).shutdown, '1', 'still active during the restore wait');
    assert.equal(events().at(-1), 'OUTPUT_OFF reason=shutdown_delay_expired restore=3min');

    await clock.advance(3 * MIN - 1);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(1);
    s = model.snapshot();
    assert.equal(s.output.on, true);
    assert.equal(s.output.voltage, 228);
    assert.equal(bits(model).shutdown, '0');
    assert.deepEqual(events().slice(-3), ['RESTORE_DELAY_EXPIRED', 'OUTPUT_ON_SCHEDULED in=0.0s', 'OUTPUT_ON reason=restore']);
  });

  it('S.5R0003 without mains: waits past the 3 minutes until mains returns', async () => {
    const { clock, model, send, events } = setup();
    model.setMains(false);
    send('S.5R0003');
    await clock.advance(30 * S + 3 * MIN);
    assert.equal(model.snapshot().output.on, false);
    assert.equal(model.snapshot().shutdown?.waiting, 'mains');
    assert.ok(events().includes('RESTORE_WAITING_FOR_MAINS'));
    const chargeWhileOff = model.snapshot().battery.chargeAh;
    await clock.advance(20 * MIN);
    assert.equal(model.snapshot().output.on, false);
    assert.equal(model.snapshot().battery.chargeAh, chargeWhileOff, 'no drain with the output off');
    model.setMains(true);
    await clock.advance(0);
    assert.equal(model.snapshot().output.on, true);
  });

  it('mains returning during the 3 minutes does not shorten them', async () => {
    const { clock, model, send } = setup();
    model.setMains(false);
    send('S.5R0003');
    await clock.advance(40 * S);
    model.setMains(true);
    await clock.advance(2 * MIN);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(50 * S);
    assert.equal(model.snapshot().output.on, true);
  });

  it('R0000 stays off, even with mains, until C (after the 10 s hold)', async () => {
    const { clock, model, send, events } = setup();
    send('S.5R0000');
    assert.match(events().at(-1)!, /restore=stayoff$/);
    await clock.advance(30 * S);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(60 * MIN);
    assert.equal(model.snapshot().output.on, false);
    assert.equal(model.snapshot().shutdown?.waiting, 'stayoff');
    send('C');
    await clock.advance(0);
    assert.equal(model.snapshot().output.on, true);
    assert.equal(events().at(-1), 'OUTPUT_ON reason=cancel');
  });

  it('C turns the output back on no sooner than 10 s after it went off', async () => {
    const { clock, model, send, events } = setup();
    send('S.2R0005');
    await clock.advance(12 * S + 3 * S);
    send('C');
    assert.equal(events().at(-1), 'OUTPUT_ON_SCHEDULED in=7.0s');
    await clock.advance(7 * S - 1);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(1);
    assert.equal(model.snapshot().output.on, true);
  });

  it('plain S01: off after a minute, back 10 s after mains', async () => {
    const { clock, model, send, events } = setup();
    model.setMains(false);
    send('S01');
    assert.match(events().at(-1)!, /SHUTDOWN_ARMED cmd=S01 off_in=60s restore=on-mains\+10s$/);
    await clock.advance(60 * S);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(5 * MIN);
    model.setMains(true);
    await clock.advance(10 * S - 1);
    assert.equal(model.snapshot().output.on, false);
    await clock.advance(1);
    assert.equal(model.snapshot().output.on, true);
  });

  it('plain S<n> with mains present comes back 10 s after the off; a mains blip cancels that', async () => {
    const { clock, model, send, events } = setup();
    send('S.2');
    await clock.advance(12 * S + 5 * S);
    model.setMains(false);
    assert.equal(events().at(-1), 'OUTPUT_ON_CANCELLED reason=mains_lost');
    await clock.advance(30 * S);
    assert.equal(model.snapshot().output.on, false);
    model.setMains(true);
    await clock.advance(10 * S);
    assert.equal(model.snapshot().output.on, true);
  });

  it('C cancels a pending shutdown', async () => {
    const { clock, model, send, events } = setup();
    send('S.5R0003');
    await clock.advance(10 * S);
    send('C');
    assert.equal(events().at(-1), 'SHUTDOWN_CANCELLED cmd=S.5R0003');
    assert.equal(bits(model).shutdown, '0');
    await clock.advance(10 * MIN);
    assert.equal(model.snapshot().output.on, true);
  });

  it('a second S replaces the first', async () => {
    const { clock, model, send } = setup();
    send('S.5R0003');
    send('S01R0001');
    await clock.advance(30 * S);
    assert.equal(model.snapshot().output.on, true);
    await clock.advance(30 * S);
    assert.equal(model.snapshot().output.on, false);
  });

  it('battery low during the countdown turns the output off at once (spec)', async () => {
    const { clock, model, send, events } = setup({ chargePercent: 21 });
    model.setMains(false);
    send('S01R0003');
    await clock.advance(10 * S);
    assert.equal(model.snapshot().output.on, false);
    assert.ok(events().includes('OUTPUT_OFF reason=battery_low restore=3min'));
    assert.equal(model.snapshot().shutdown?.waiting, 'delay');
  });

  it('S00R0000 (load.off) cuts the output immediately', async () => {
    const { clock, model, send } = setup();
    send('S00R0000');
    await clock.advance(0);
    assert.equal(model.snapshot().output.on, false);
  });
});

describe('UpsModel: battery test', () => {
  it('T: b2 for 10 s on the inverter, mains still present', async () => {
    const { clock, model, send, events } = setup();
    send('T');
    assert.equal(bits(model).test, '1');
    let s = model.snapshot();
    assert.equal(s.battery.state, 'discharging');
    assert.equal(s.input.voltage, 228);
    assert.equal(bits(model).utilityFail, '0');
    assert.ok(s.battery.voltage < 13.6, 'battery voltage under load, not float');
    await clock.advance(10 * S - 1);
    assert.equal(bits(model).test, '1');
    await clock.advance(1);
    assert.equal(bits(model).test, '0');
    s = model.snapshot();
    assert.ok(s.battery.chargePercent < 100, 'the test used some charge');
    assert.deepEqual(events().slice(-2), ['TEST_STARTED mode=quick duration=10s', 'TEST_ENDED mode=quick reason=completed']);
  });

  it('T<nn> runs nn minutes; CT cancels it', async () => {
    const { clock, model, send, events } = setup();
    send('T02');
    await clock.advance(1 * MIN);
    assert.equal(bits(model).test, '1');
    send('CT');
    assert.equal(bits(model).test, '0');
    assert.equal(events().at(-1), 'TEST_ENDED mode=timed reason=cancelled');
    send('CT');
    assert.equal(events().at(-1), 'CT (no test running)');
  });

  it('TL runs until battery low', async () => {
    const { clock, model, send, events } = setup();
    const lbMs = model.runtimeAtLoadS(28) * 1000 * 0.8;
    send('TL');
    await clock.advance(lbMs - 100);
    assert.equal(bits(model).test, '1');
    await clock.advance(200);
    assert.equal(bits(model).test, '0');
    assert.ok(events().includes('TEST_ENDED mode=deep reason=battery_low'));
    assert.equal(model.snapshot().battery.state, 'charging', 'back on utility');
  });

  it('a mains failure ends the test; no test starts on battery', () => {
    const { model, send, events } = setup();
    send('T');
    model.setMains(false);
    assert.equal(bits(model).test, '0');
    assert.ok(events().includes('TEST_ENDED mode=quick reason=mains_lost'));
    send('TL');
    assert.equal(bits(model).test, '0');
    assert.equal(events().at(-1), 'TEST_REFUSED mode=deep reason=on_battery');
  });
});
