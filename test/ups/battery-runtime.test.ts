import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_FULL_LOAD_RUNTIME_S,
  RuntimeEstimator,
  loadFactor,
  modelRuntime,
  parseLearnedRuntime,
  type RuntimeEstimate,
} from '../../src/ups/battery-runtime.js';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

function near(actual: number, expected: number, tolerance: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} is not within ${tolerance} of ${expected}`);
}

/** Feeds on-battery polls once a second while the level falls at `ratePerS` (fraction/s). */
function discharge(
  estimator: RuntimeEstimator,
  from: { time: number; level: number },
  seconds: number,
  loadPercent: number,
  ratePerS: number,
  quantise: (level: number) => number = (level) => level,
): { time: number; level: number; estimate: RuntimeEstimate; learnedEvents: number } {
  let { time, level } = from;
  let estimate: RuntimeEstimate | undefined;
  let learnedEvents = 0;
  for (let s = 0; s <= seconds; s++) {
    const seen = quantise(level);
    const result = estimator.update({ time, onBattery: true, level: seen, charge: Math.min(100, Math.max(0, seen * 100)), loadPercent });
    estimate = result.estimate;
    if (result.learned) learnedEvents++;
    if (s < seconds) {
      time += 1000;
      level -= ratePerS;
    }
  }
  return { time, level, estimate: estimate!, learnedEvents };
}

test('the load model: R × charge/100 ÷ (max(load, 10)/100)^1.2', () => {
  assert.equal(DEFAULT_FULL_LOAD_RUNTIME_S, 180);
  assert.equal(modelRuntime(180, 100, 100), 180);
  near(modelRuntime(180, 100, 50), 180 * 2 ** 1.2, 1e-9); // 413.5 s
  near(modelRuntime(180, 50, 50), 90 * 2 ** 1.2, 1e-9);
  near(modelRuntime(180, 100, 28), 180 / 0.28 ** 1.2, 1e-9); // 830 s: ~14 min at the Ippon's 28 %
  // An unloaded UPS still drains: load counts as at least 10 %.
  assert.equal(modelRuntime(180, 100, 0), modelRuntime(180, 100, 10));
  assert.equal(loadFactor(100), 1);
});

test('on line, and before enough discharge is seen, the runtime comes from the model', () => {
  const estimator = new RuntimeEstimator();
  const online = estimator.update({ time: T0, onBattery: false, level: 1.1, charge: 100, loadPercent: 50 });
  assert.deepEqual(online, { estimate: { seconds: modelRuntime(180, 100, 50), source: 'configured', fullLoadRuntimeS: 180 } });
  // 20 s on battery: the level fell 4 %, but the span is under 30 s.
  const early = discharge(estimator, { time: T0 + 1000, level: 0.8 }, 20, 50, 0.002);
  assert.equal(early.estimate.source, 'configured');
  assert.equal(early.learnedEvents, 0);
});

test('on battery the runtime follows the discharge actually seen', () => {
  const estimator = new RuntimeEstimator();
  // Level falls 0.2 %/s at 50 % load: from 0.8 it reaches 0 after 400 s.
  const run = discharge(estimator, { time: T0, level: 0.8 }, 40, 50, 0.002);
  assert.equal(run.estimate.source, 'discharge');
  near(run.estimate.seconds, run.level / 0.002, 0.5, 'runtime');
  // R = f(50) / 0.002 ≈ 217.6 s at full load.
  near(run.estimate.fullLoadRuntimeS, loadFactor(50) / 0.002, 1e-6);
  assert.deepEqual(estimator.learned, { fullLoadRuntimeS: run.estimate.fullLoadRuntimeS, learnedAt: run.time });
  assert.ok(run.learnedEvents > 0);
});

test('a load change rescales the learned rate instead of starting over', () => {
  const estimator = new RuntimeEstimator();
  const halfLoad = discharge(estimator, { time: T0, level: 0.9 }, 60, 50, 0.002);
  const learnedR = halfLoad.estimate.fullLoadRuntimeS;
  // The load doubles; by the Peukert-like law the level now falls 2^1.2 times faster.
  const fullRate = 0.002 * (loadFactor(100) / loadFactor(50));
  const step = discharge(estimator, { time: halfLoad.time + 1000, level: halfLoad.level - fullRate }, 5, 100, fullRate);
  assert.equal(step.estimate.source, 'learned', 'the voltage jump of the load step is not fitted');
  near(step.estimate.seconds, learnedR * step.level, 1e-6);
  near(step.estimate.seconds, step.level / fullRate, 0.5, 'the rescaled runtime is the real one');
  const settled = discharge(estimator, { time: step.time + 1000, level: step.level - fullRate }, 40, 100, fullRate);
  assert.equal(settled.estimate.source, 'discharge');
  near(settled.estimate.seconds, settled.level / fullRate, 0.5);
});

test('a worn battery: the estimate follows the real discharge, where the configured model overestimates', () => {
  // Configured for a new battery (R 180 s), but this one lasts only half as long.
  const estimator = new RuntimeEstimator({ fullLoadRuntimeS: 180 });
  const realRate = loadFactor(30) / 90; // level per second at 30 % load for R = 90 s
  const run = discharge(estimator, { time: T0, level: 0.95 }, 90, 30, realRate);
  const truth = run.level / realRate;
  near(run.estimate.seconds, truth, 0.5);
  near(modelRuntime(180, run.level * 100, 30), 2 * truth, 1, 'the fixed model would say twice as long');
});

test('only the last 5 minutes are fitted, so the estimate follows the knee of the curve', () => {
  const estimator = new RuntimeEstimator();
  const plateau = discharge(estimator, { time: T0, level: 0.9 }, 400, 40, 0.0005);
  const knee = discharge(estimator, { time: plateau.time + 1000, level: plateau.level - 0.002 }, 320, 40, 0.002);
  near(knee.estimate.seconds, knee.level / 0.002, 0.5);
});

test('quantised 0.1 V readings of a 12 V battery still give a usable estimate', () => {
  const estimator = new RuntimeEstimator();
  // Voltage falls 2 mV/s over 10.2..13.8 V; the UPS reports it to 0.1 V.
  const voltsPerS = 0.002;
  const toLevel = (volts: number) => (volts - 10.2) / 3.6;
  const quantise = (level: number) => toLevel(Math.round((10.2 + level * 3.6) * 10) / 10);
  const run = discharge(estimator, { time: T0, level: toLevel(12.6) }, 240, 35, voltsPerS / 3.6, quantise);
  assert.equal(run.estimate.source, 'discharge');
  const truth = (run.level * 3.6) / voltsPerS;
  near(run.estimate.seconds, truth, 0.1 * truth, 'within 10 %');
});

test('a flat voltage teaches nothing', () => {
  const estimator = new RuntimeEstimator();
  const flat = discharge(estimator, { time: T0, level: 0.7 }, 120, 40, 0);
  assert.equal(flat.estimate.source, 'configured');
  assert.equal(flat.learnedEvents, 0);
  // One 0.1 V step (2.8 %) is not a slope either.
  const oneStep = new RuntimeEstimator();
  discharge(oneStep, { time: T0, level: 0.7 }, 60, 40, 0);
  const after = discharge(oneStep, { time: T0 + 61_000, level: 0.672 }, 60, 40, 0);
  assert.equal(after.estimate.source, 'configured');
});

test('what was learned outlives the outage and the process', () => {
  const first = new RuntimeEstimator();
  const outage = discharge(first, { time: T0, level: 0.8 }, 60, 50, 0.002);
  const learned = first.learned!;
  // Mains returns: the model now uses the learned R.
  const back = first.update({ time: outage.time + 1000, onBattery: false, level: 1, charge: 100, loadPercent: 50 });
  assert.deepEqual(back.estimate, { seconds: modelRuntime(learned.fullLoadRuntimeS, 100, 50), source: 'learned', fullLoadRuntimeS: learned.fullLoadRuntimeS });
  assert.equal(back.learned, undefined);
  // The daemon persisted it as JSON; a new process starts from it.
  const restored = parseLearnedRuntime(JSON.parse(JSON.stringify(learned)));
  const second = new RuntimeEstimator({ learned: restored });
  const next = second.update({ time: T0 + 86_400_000, onBattery: true, level: 0.9, charge: 90, loadPercent: 20 });
  assert.deepEqual(next.estimate, { seconds: modelRuntime(learned.fullLoadRuntimeS, 90, 20), source: 'learned', fullLoadRuntimeS: learned.fullLoadRuntimeS });
});

test('persisted state is validated', () => {
  assert.deepEqual(parseLearnedRuntime({ fullLoadRuntimeS: 200, learnedAt: T0 }), { fullLoadRuntimeS: 200, learnedAt: T0 });
  for (const bad of [null, 'x', {}, { fullLoadRuntimeS: 0, learnedAt: T0 }, { fullLoadRuntimeS: 200 }, { fullLoadRuntimeS: Infinity, learnedAt: T0 }]) {
    assert.equal(parseLearnedRuntime(bad), undefined, JSON.stringify(bad));
  }
  assert.throws(() => new RuntimeEstimator({ learned: { fullLoadRuntimeS: -1, learnedAt: T0 } }), RangeError);
  assert.throws(() => new RuntimeEstimator({ fullLoadRuntimeS: 0 }), RangeError);
});
