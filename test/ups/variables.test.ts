import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFixed, nutVariables } from '../../src/ups/variables.js';
import { deriveStatus, parseQ1 } from '../../src/ups/megatec/index.js';

test('formatFixed is printf %.Nf: exact binary ties go to even', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -2.5, 9.5].map((v) => formatFixed(v, 0)), ['0', '2', '2', '4', '-2', '10']);
  assert.deepEqual([0.25, 0.75, 0.125].map((v, i) => formatFixed(v, i === 2 ? 2 : 1)), ['0.2', '0.8', '0.12']);
  // Not ties in binary: plain rounding (1.005 is 1.00499999…).
  assert.deepEqual([formatFixed(1.005, 2), formatFixed(0.35, 1), formatFixed(96.96969, 0)], ['1.00', '0.3', '97']);
  assert.deepEqual([formatFixed(13.6, 2), formatFixed(228, 1), formatFixed(2.27 * 18, 2)], ['13.60', '228.0', '40.86']);
});

test('variables before the first good poll: only what is known without Q1', () => {
  const variables = nutVariables({
    driver: { port: 'auto', pollIntervalMs: 1000, ignoresab: false },
    delays: { shutdownS: 30, startS: 180 },
    battery: {},
  });
  assert.deepEqual(variables, {
    'device.type': 'ups',
    'driver.name': 'pvepower',
    'driver.parameter.pollinterval': '1',
    'driver.parameter.port': 'auto',
    'driver.version': '0.1.0',
    'ups.delay.shutdown': '30',
    'ups.delay.start': '180',
  });
});

test('variables are sorted by name and absent fields stay absent', () => {
  const parsed = parseQ1('(244.3 000.0 244.3 001 50.1 13.7 --.- 00011001');
  assert.ok(parsed.ok);
  const variables = nutVariables({
    driver: { port: '/dev/ttyUSB0', pollIntervalMs: 1500, ignoresab: true },
    delays: { shutdownS: 60, startS: 0 },
    battery: { nominal: 12, high: 13.8, low: 10.2 },
    poll: { reading: parsed.value, status: deriveStatus(parsed.value) },
  });
  assert.deepEqual(Object.keys(variables), Object.keys(variables).sort());
  assert.equal(variables['ups.temperature'], undefined);
  assert.equal(variables['battery.charge'], undefined, 'no battery reading was given');
  assert.equal(variables['ups.alarm'], 'UPS selftest failed!');
  assert.equal(variables['ups.status'], 'ALARM OL');
  assert.equal(variables['driver.flag.ignoresab'], 'enabled');
  assert.equal(variables['driver.parameter.pollinterval'], '1.5');
  assert.equal(variables['input.voltage.fault'], '0.0');
});
