import { formatDuration } from '../core/duration.js';
import type { MonitorState } from '../monitor/monitor.js';
import type { TriggerSpec } from './types.js';

/** The part of the monitor state that triggers read. */
export type TriggerState = Pick<MonitorState, 'onBattery' | 'onBatterySince' | 'fsd' | 'criticalReasons'>;

export interface TriggerInput {
  state: TriggerState;
  /** Latest good readings in NUT names: battery.charge (%), battery.runtime (s). */
  variables: Readonly<Record<string, string>>;
  now: number;
  /** The operator fired this stage (`pvepower trigger STAGE`); only the `manual` condition reads it. */
  manual?: boolean;
}

function reading(variables: Readonly<Record<string, string>>, name: string): number | undefined {
  const text = variables[name]?.trim();
  if (!text) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * One result per condition present in `spec`. The power conditions hold only on battery: after
 * the mains return a half-empty battery or a charging `OL LB` is no outage, and would otherwise
 * re-fire a stage the caller has just reset.
 */
function conditions(spec: TriggerSpec, input: TriggerInput): boolean[] {
  const { state, variables, now } = input;
  const results: boolean[] = [];
  if (spec.on_battery_for !== undefined) {
    results.push(state.onBattery && state.onBatterySince !== undefined && now - state.onBatterySince >= spec.on_battery_for);
  }
  if (spec.charge_below !== undefined) {
    const charge = reading(variables, 'battery.charge');
    results.push(state.onBattery && charge !== undefined && charge < spec.charge_below);
  }
  if (spec.runtime_below !== undefined) {
    const runtimeS = reading(variables, 'battery.runtime');
    results.push(state.onBattery && runtimeS !== undefined && runtimeS * 1000 < spec.runtime_below);
  }
  // The monitor's critical reasons already apply upsmon's rules: OB+LB unless calibrating, DEADTIME.
  if (spec.low_battery) {
    results.push(state.criticalReasons.includes('low battery') || state.criticalReasons.includes('dead on battery'));
  }
  if (spec.fsd) results.push(state.fsd);
  if (spec.comm_lost_on_battery) results.push(state.criticalReasons.includes('dead on battery'));
  if (spec.manual) results.push(input.manual === true);
  if (spec.any) results.push(spec.any.some((s) => triggerHolds(s, input)));
  if (spec.all) results.push(spec.all.length > 0 && spec.all.every((s) => triggerHolds(s, input)));
  return results;
}

/**
 * Whether the trigger holds now. Several keys in one object must all hold; `any`/`all` nest.
 * A trigger without any condition (`{}`, `all: []`, `low_battery: false` alone) never holds:
 * an empty trigger must not shut a cluster down.
 */
export function triggerHolds(spec: TriggerSpec, input: TriggerInput): boolean {
  const results = conditions(spec, input);
  return results.length > 0 && results.every(Boolean);
}

/** Where every on_battery_for countdown in the spec ends, for the current stretch on battery. */
function countdownEnds(spec: TriggerSpec, state: TriggerState, into: Set<number>): Set<number> {
  if (!state.onBattery || state.onBatterySince === undefined) return into;
  if (spec.on_battery_for !== undefined) into.add(state.onBatterySince + spec.on_battery_for);
  for (const child of [...(spec.any ?? []), ...(spec.all ?? [])]) countdownEnds(child, state, into);
  return into;
}

/**
 * When the trigger will hold if nothing but time changes: `now` if it holds already, the end of
 * the deciding on_battery_for countdown, or undefined when waiting alone will not fire it.
 * The daemon schedules a re-evaluation for this time instead of polling.
 */
export function triggerFiresAt(spec: TriggerSpec, input: TriggerInput): number | undefined {
  if (triggerHolds(spec, input)) return input.now;
  // on_battery_for is the only condition that depends on time and, once true, stays true while
  // time passes; any/all keep that, so the first countdown end at which the spec holds is exact.
  const ends = [...countdownEnds(spec, input.state, new Set())].filter((t) => t > input.now).sort((a, b) => a - b);
  return ends.find((t) => triggerHolds(spec, { ...input, now: t }));
}

export interface StageTrigger {
  readonly name: string;
  readonly trigger: TriggerSpec;
}

export type FiredBy = 'trigger' | 'manual';

export interface StageTriggerStatus {
  name: string;
  fired: boolean;
  firedAt?: number;
  firedBy?: FiredBy;
  /** For a stage not fired yet: when it fires if nothing but time changes. */
  firesAt?: number;
}

export interface StageCountdown {
  stage: string;
  firesAt: number;
  remainingMs: number;
  /** For display, e.g. `shed in 12s`. */
  text: string;
}

/**
 * Tracks which stages have fired. A fired stage stays fired until the caller resets it (on power
 * return), so a condition that flickers does not start a stage twice.
 */
export class StageTriggerTracker {
  private readonly stages: readonly StageTrigger[];
  private readonly fired = new Map<string, { at: number; by: FiredBy }>();
  private last: Pick<TriggerInput, 'state' | 'variables'> | undefined;

  constructor(stages: readonly StageTrigger[]) {
    const seen = new Set<string>();
    for (const { name } of stages) {
      if (!name) throw new RangeError('stage without a name');
      if (seen.has(name)) throw new RangeError(`duplicate stage '${name}'`);
      seen.add(name);
    }
    this.stages = [...stages];
  }

  /**
   * Evaluates every stage not fired yet against fresh monitor data and returns the ones that fire
   * now, in config order. Operator requests go through fireManually, so `manual` reads false here.
   */
  update(input: Omit<TriggerInput, 'manual'>): string[] {
    this.last = { state: input.state, variables: input.variables };
    const newlyFired: string[] = [];
    for (const { name, trigger } of this.stages) {
      if (this.fired.has(name) || !triggerHolds(trigger, input)) continue;
      this.fired.set(name, { at: input.now, by: 'trigger' });
      newlyFired.push(name);
    }
    return newlyFired;
  }

  /**
   * `pvepower trigger STAGE`: the operator's word fires the stage whatever its trigger says.
   * Returns false when it had fired already.
   */
  fireManually(stage: string, now: number): boolean {
    this.require(stage);
    if (this.fired.has(stage)) return false;
    this.fired.set(stage, { at: now, by: 'manual' });
    return true;
  }

  isFired(stage: string): boolean {
    this.require(stage);
    return this.fired.has(stage);
  }

  /** Fired stages in config order. */
  firedStages(): string[] {
    return this.stages.filter((s) => this.fired.has(s.name)).map((s) => s.name);
  }

  reset(stage: string): void {
    this.require(stage);
    this.fired.delete(stage);
  }

  resetAll(): void {
    this.fired.clear();
  }

  /** The earliest time an unfired stage fires by waiting alone (from the last update's data). */
  nextCheckAt(now: number): number | undefined {
    const times = this.status(now).flatMap((s) => (s.firesAt === undefined ? [] : [s.firesAt]));
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  status(now: number): StageTriggerStatus[] {
    return this.stages.map(({ name, trigger }) => {
      const fired = this.fired.get(name);
      if (fired) return { name, fired: true, firedAt: fired.at, firedBy: fired.by };
      const firesAt = this.last ? triggerFiresAt(trigger, { ...this.last, now }) : undefined;
      return firesAt === undefined ? { name, fired: false } : { name, fired: false, firesAt };
    });
  }

  /** Running countdowns, soonest first. */
  countdowns(now: number): StageCountdown[] {
    return this.status(now)
      .flatMap((s) => (s.firesAt === undefined ? [] : [{ stage: s.name, firesAt: s.firesAt }]))
      .sort((a, b) => a.firesAt - b.firesAt)
      .map(({ stage, firesAt }) => {
        const remainingMs = Math.max(0, firesAt - now);
        // Whole seconds, rounded up, so the display never shows 0 before the stage fires.
        const text = remainingMs === 0 ? `${stage} now` : `${stage} in ${formatDuration(Math.ceil(remainingMs / 1000) * 1000)}`;
        return { stage, firesAt, remainingMs, text };
      });
  }

  private require(stage: string): void {
    if (!this.stages.some((s) => s.name === stage)) throw new RangeError(`unknown stage '${stage}'`);
  }
}
