/**
 * battery.runtime from what the battery actually does.
 *
 * Everything rests on one formula: runtime = R × charge/100 ÷ f(load), where R is the runtime of
 * a full battery at 100 % load and f(load) = (max(load, 10) / 100)^1.2 is a Peukert-like factor
 * (half the load lasts 2^1.2 ≈ 2.3 times as long). What changes is where R comes from:
 *
 * 1. `discharge`: on battery, R is fitted to the discharge seen in the last 5 minutes. Time is
 *    weighted by f(load) (τ = ∫ f(load) dt), so samples taken at different loads share one line,
 *    and R = −1 / slope of the least-squares line of the battery level against τ. Used once the
 *    window spans 30 s, 3 samples and a 5 % drop (see the MIN_FIT_* constants).
 * 2. `learned`: the R of the last good fit, kept across outages (and persisted by the daemon).
 * 3. `configured`: `runtimeFullLoadS`, by default 180 s (see DEFAULT_FULL_LOAD_RUNTIME_S).
 */

/** Runtime ∝ load^-PEUKERT_EXPONENT. */
export const PEUKERT_EXPONENT = 1.2;

/**
 * A typical 650 VA / 12 V 7 Ah unit at full load: 390 W out (power factor 0.6) is ≈ 460 W from
 * the battery at 85 % inverter efficiency, ≈ 38 A or 5C. At 5C a VRLA battery gives about 35 % of
 * its 84 Wh, ≈ 29 Wh, which is 3.8 min; rounded down to 3 min to err on the side of shutting down.
 */
export const DEFAULT_FULL_LOAD_RUNTIME_S = 180;

/** The inverter draws power even with no load, so lower loads count as this (NUT's idleload). */
export const MIN_EFFECTIVE_LOAD_PERCENT = 10;

/** Only the discharge of this last stretch is fitted, so the estimate follows the battery's curve. */
export const FIT_WINDOW_MS = 5 * 60_000;
/** A fit needs at least this much on-battery time … */
export const MIN_FIT_SPAN_MS = 30_000;
/** … this many samples … */
export const MIN_FIT_SAMPLES = 3;
/**
 * … and a level drop of at least 5 % from the window's first sample to its last. Voltages come
 * in 0.1 V steps, 2.8 % of a 12 V battery's 10.2..13.8 V: one step is noise, not a slope.
 */
export const MIN_FIT_DROP = 0.05;
/**
 * A load change of more than this many points restarts the fit: the voltage jumps with the
 * load at once, and that jump is not discharge.
 */
export const LOAD_STEP_PERCENT = 10;

export interface LearnedRuntime {
  /** R: how long a full battery lasts at 100 % load, as measured (s). */
  fullLoadRuntimeS: number;
  /** Clock time of the measurement (ms). */
  learnedAt: number;
}

export type RuntimeSource = 'discharge' | 'learned' | 'configured';

export interface RuntimeEstimate {
  /** battery.runtime (s). */
  seconds: number;
  source: RuntimeSource;
  /** The R the estimate used (s). */
  fullLoadRuntimeS: number;
}

export interface RuntimeInput {
  /** Clock time (ms). */
  time: number;
  onBattery: boolean;
  /** Battery level, (V − low)/(high − low), unclamped. */
  level: number;
  /** battery.charge, 0..100. */
  charge: number;
  /** ups.load (%). */
  loadPercent: number;
}

export interface RuntimeEstimatorOptions {
  /** R when nothing was learned yet (s). Default DEFAULT_FULL_LOAD_RUNTIME_S. */
  fullLoadRuntimeS?: number;
  /** What an earlier run learned (from the daemon's state file). */
  learned?: LearnedRuntime;
}

export interface DischargePoint {
  time: number;
  level: number;
  loadPercent: number;
  /** Load-weighted seconds since the window began. */
  tau: number;
}

/** f(load): the Peukert-like discharge rate at `loadPercent` relative to full load. */
export function loadFactor(loadPercent: number): number {
  return (Math.max(loadPercent, MIN_EFFECTIVE_LOAD_PERCENT) / 100) ** PEUKERT_EXPONENT;
}

/** runtime = R × charge/100 ÷ f(load). */
export function modelRuntime(fullLoadRuntimeS: number, charge: number, loadPercent: number): number {
  return (fullLoadRuntimeS * (charge / 100)) / loadFactor(loadPercent);
}

/** A LearnedRuntime from untrusted JSON (a state file), or undefined when it is not one. */
export function parseLearnedRuntime(value: unknown): LearnedRuntime | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { fullLoadRuntimeS, learnedAt } = value as Record<string, unknown>;
  const positive = typeof fullLoadRuntimeS === 'number' && fullLoadRuntimeS > 0 && Number.isFinite(fullLoadRuntimeS);
  if (!positive) return undefined;
  if (typeof learnedAt !== 'number' || !Number.isFinite(learnedAt)) return undefined;
  return { fullLoadRuntimeS, learnedAt };
}

/**
 * Least-squares fit of level against τ over the window. Returns R = 1/|slope| when the window
 * is long enough and the level really fell, else undefined.
 */
export function fitFullLoadRuntime(points: readonly DischargePoint[]): number | undefined {
  const first = points[0];
  const last = points.at(-1);
  if (!first || !last || points.length < MIN_FIT_SAMPLES || last.time - first.time < MIN_FIT_SPAN_MS) return undefined;
  const meanTau = points.reduce((sum, p) => sum + p.tau, 0) / points.length;
  const meanLevel = points.reduce((sum, p) => sum + p.level, 0) / points.length;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.tau - meanTau) * (p.level - meanLevel);
    sxx += (p.tau - meanTau) ** 2;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  if (!(slope < 0) || first.level - last.level < MIN_FIT_DROP) return undefined;
  return 1 / -slope;
}

export class RuntimeEstimator {
  private readonly configuredS: number;
  private learnedValue: LearnedRuntime | undefined;
  private window: DischargePoint[] = [];

  constructor(options: RuntimeEstimatorOptions = {}) {
    this.configuredS = options.fullLoadRuntimeS ?? DEFAULT_FULL_LOAD_RUNTIME_S;
    if (!(this.configuredS > 0) || !Number.isFinite(this.configuredS)) {
      throw new RangeError(`runtime at full load must be a number of seconds > 0, got ${this.configuredS}`);
    }
    if (options.learned !== undefined && parseLearnedRuntime(options.learned) === undefined) {
      throw new RangeError(`invalid learned runtime ${JSON.stringify(options.learned)}`);
    }
    this.learnedValue = options.learned;
  }

  /** What was learned so far, for the daemon to persist. */
  get learned(): LearnedRuntime | undefined {
    return this.learnedValue;
  }

  /** Feeds one good poll; `learned` is set in the result when this poll updated the learned R. */
  update(input: RuntimeInput): { estimate: RuntimeEstimate; learned?: LearnedRuntime } {
    if (!input.onBattery) {
      this.window = [];
      return { estimate: this.fromStored(input) };
    }
    this.record(input);
    const fitted = fitFullLoadRuntime(this.window);
    if (fitted === undefined) return { estimate: this.fromStored(input) };
    this.learnedValue = { fullLoadRuntimeS: fitted, learnedAt: input.time };
    return { estimate: this.estimate(fitted, 'discharge', input), learned: this.learnedValue };
  }

  private record(input: RuntimeInput): void {
    let last = this.window.at(-1);
    if (last && Math.abs(input.loadPercent - last.loadPercent) > LOAD_STEP_PERCENT) {
      this.window = [];
      last = undefined;
    }
    // Trapezoid: the load-weighted length of the interval since the previous sample.
    const meanFactor = last ? (loadFactor(last.loadPercent) + loadFactor(input.loadPercent)) / 2 : 0;
    const tau = last ? last.tau + ((input.time - last.time) / 1000) * meanFactor : 0;
    this.window.push({ time: input.time, level: input.level, loadPercent: input.loadPercent, tau });
    while (this.window[0]!.time < input.time - FIT_WINDOW_MS) this.window.shift();
  }

  private fromStored(input: RuntimeInput): RuntimeEstimate {
    return this.learnedValue
      ? this.estimate(this.learnedValue.fullLoadRuntimeS, 'learned', input)
      : this.estimate(this.configuredS, 'configured', input);
  }

  private estimate(fullLoadRuntimeS: number, source: RuntimeSource, input: RuntimeInput): RuntimeEstimate {
    return { seconds: modelRuntime(fullLoadRuntimeS, input.charge, input.loadPercent), source, fullLoadRuntimeS };
  }
}
