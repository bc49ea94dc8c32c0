import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatteryModel, detectPacks, type BatteryConfig } from '../../src/ups/battery.js';
import { formatFixed } from '../../src/ups/variables.js';

/** battery.voltage and battery.charge as published (%.2f, %.0f). */
function published(config: BatteryConfig, volts: number, ratedNominal?: number): { voltage: string; charge?: string } {
  const model = new BatteryModel(config);
  model.setRatedNominal(ratedNominal);
  const reading = model.read(volts);
  return {
    voltage: formatFixed(reading.voltage, 2),
    ...(reading.charge === undefined ? {} : { charge: formatFixed(reading.charge, 0) }),
  };
}

test('charge = clamp(0, 100, 100·(V − low)/(high − low)) on the real dumps', () => {
  // Ippon Back Basic 850 Euro: nominal 12.0 from F, high/low 13.00/10.40.
  assert.deepEqual(published({ high: 13.0, low: 10.4 }, 13.6, 12), { voltage: '13.60', charge: '100' });
  // Digitus DN-170076: 27.20 V with 20.80/27.40.
  assert.deepEqual(published({ high: 27.4, low: 20.8 }, 27.2, 24), { voltage: '27.20', charge: '97' });
  // Sweex 1500 on battery: 21.40 V with 20.80/26.00.
  assert.deepEqual(published({ high: 26.0, low: 20.8 }, 21.4, 24), { voltage: '21.40', charge: '12' });
  // 2E PS1000L: 27.1 V with 20/29.2. NUT shows 76 because runtimecal blends in its time model;
  // the plain voltage rule gives 77.
  assert.deepEqual(published({ nominal: 24, high: 29.2, low: 20 }, 27.1), { voltage: '27.10', charge: '77' });
  // The NUT 2.8.0 capture (OB, 12.50 V with 13.60/10.40): 66.
  assert.deepEqual(published({ nominal: 12, high: 13.6, low: 10.4 }, 12.5), { voltage: '12.50', charge: '66' });
  // Below low is 0, never negative.
  assert.deepEqual(published({ nominal: 12, high: 13.6, low: 10.4 }, 9.8), { voltage: '9.80', charge: '0' });
});

test("without configured limits, the seed's rule: nominal ± 15 %", () => {
  const twelve = new BatteryModel();
  twelve.setRatedNominal(12);
  assert.deepEqual(
    Object.fromEntries(Object.entries(twelve.thresholds).map(([k, v]) => [k, formatFixed(v!, 2)])),
    { nominal: '12.00', high: '13.80', low: '10.20' },
  );
  const twentyFour = new BatteryModel({ nominal: 24 });
  assert.equal(formatFixed(twentyFour.thresholds.high!, 2), '27.60');
  assert.equal(formatFixed(twentyFour.thresholds.low!, 2), '20.40');
  // 13.6 V of 10.2..13.8 V is 94 %.
  assert.equal(published({}, 13.6, 12).charge, '94');
  // A single configured limit keeps the other from the rule.
  const onlyLow = new BatteryModel({ nominal: 12, low: 10.5 });
  assert.deepEqual(onlyLow.thresholds, { nominal: 12, high: 12 * 1.15, low: 10.5 });
});

test('the configured nominal wins over F; without any nominal or limits there is no charge', () => {
  const model = new BatteryModel({ nominal: 24 });
  model.setRatedNominal(12);
  assert.equal(model.thresholds.nominal, 24);
  assert.deepEqual(published({}, 13.6), { voltage: '13.60' });
  // Limits alone are enough for the charge.
  assert.deepEqual(published({ high: 13.6, low: 10.4 }, 12.0), { voltage: '12.00', charge: '50' });
});

test('per-cell reports are multiplied by the packs (NUT autodetection)', () => {
  // PowerWalker Online VFI 1000: 2.27 V per cell, nominal 36 → 18 packs → 40.86.
  assert.equal(detectPacks(2.27, 36), 18);
  const powerWalker = new BatteryModel();
  powerWalker.setRatedNominal(36);
  const reading = powerWalker.read(2.27);
  assert.equal(reading.packs, 18);
  assert.equal(formatFixed(reading.voltage, 2), '40.86');
  // The 0665:5161 trace and Armac: 2.26 / 2.25 V with nominal 24 → 12 packs.
  assert.equal(published({}, 2.26, 24).voltage, '27.12');
  assert.equal(published({}, 2.25, 24).voltage, '27.00');
  // Ablerex MS3000RT: 2.29 V, nominal 96 → 48 packs.
  assert.equal(detectPacks(2.29, 96), 48);
  assert.equal(published({}, 2.29, 96).voltage, '109.92');
  // A configured pack count is used as given.
  assert.equal(published({ packs: 16 }, 2.27, 36).voltage, '36.32');
  // The charge then comes from the pack voltage: 27.12 V of 20.40..27.60 → 93 %.
  assert.equal(published({}, 2.26, 24).charge, '93');
});

test('pack autodetection gives up where NUT does', () => {
  assert.equal(detectPacks(8, 12), undefined); // 2 × 8 is over 1.25 × 12 and 1 × 8 under 0.8 × 12
  assert.equal(detectPacks(0.05, 24), undefined);
  assert.equal(detectPacks(12.6, 12), 1);
});

test('per cell or total is decided once, at the first usable reading', () => {
  const perCell = new BatteryModel();
  perCell.setRatedNominal(36);
  perCell.read(2.27);
  // Deep in the discharge 1.70 V per cell still means 18 cells, not a new guess (24 × 1.7 ≤ 45).
  assert.equal(formatFixed(perCell.read(1.7).voltage, 2), '30.60');

  const total = new BatteryModel();
  total.setRatedNominal(12);
  total.read(13.6);
  // A failing battery reading 5 V is still a 12 V battery reading 5 V.
  const failing = total.read(5);
  assert.deepEqual([failing.voltage, failing.packs, failing.charge], [5, undefined, 0]);

  // Without a nominal nothing is decided yet; once F arrives, the next reading decides.
  const late = new BatteryModel();
  assert.equal(late.read(2.27).voltage, 2.27);
  late.setRatedNominal(36);
  assert.equal(late.read(2.27).packs, 18);
  // A reading of 0 V decides nothing either.
  const zero = new BatteryModel({ packs: 6 });
  zero.setRatedNominal(12);
  assert.equal(zero.read(0).voltage, 0);
  assert.equal(zero.read(13.5).voltage, 13.5);
});

test('battery settings are checked', () => {
  assert.throws(() => new BatteryModel({ high: 10, low: 12 }), RangeError);
  assert.throws(() => new BatteryModel({ nominal: -12 }), RangeError);
  assert.throws(() => new BatteryModel({ packs: 0 }), RangeError);
  assert.throws(() => new BatteryModel({ high: Number.NaN }), RangeError);
});
