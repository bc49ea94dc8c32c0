import type { Clock, TimerHandle } from '../../core/clock.js';
import { DEFAULT_LOG_LIMIT, SimLog } from './log.js';
import {
  commandText,
  describeRestore,
  formatBits,
  parseCommand,
  type Identity,
  type Rating,
  type RestorePlan,
  type StatusFields,
  type TestMode,
  type UpsCommand,
} from './protocol.js';

/**
 * An Ippon Back Basic-like line-interactive UPS over a Clock: mains, a lead-acid battery that
 * drains with Peukert-like load dependence and recharges on mains, the Megatec test and
 * shutdown/restore commands, and a log of everything received and done.
 */
export interface UpsModelOptions {
  clock: Clock;
  /** Mains voltage while present (V). Default 228.0, as the captured Ippon. */
  inputVoltage?: number;
  /**
   * How far the fault-voltage channel reads below the input (V). Ippon units report it a little
   * lower (228.0/227.4, 222.0/221.4 in the NUT captures). Default 0.6.
   */
  faultVoltageOffset?: number;
  /** Mains frequency while present (Hz). Default 50.1. */
  inputFrequency?: number;
  /** F reply and inverter output: 220 V, 3 A, 12 V battery, 50 Hz by default. */
  rating?: Partial<Rating>;
  /** I reply: IPPON / BB 650S / V3.2 by default. */
  identity?: Partial<Identity>;
  /** Active power at 100 % load (W), for the battery current. Default 360 (650 VA Back Basic). */
  ratedPowerW?: number;
  /** Battery capacity in Ah. Default 7 (12 V 7 Ah). */
  capacityAh?: number;
  /** How long a full battery lasts at 100 % load (s). Default 120: ~10 min at 28 % load. */
  runtimeAtFullLoadS?: number;
  /** Peukert-like exponent: runtime ∝ (100/load)^k. Default 1.25. */
  peukertExponent?: number;
  /** The inverter's own draw as a load floor (%), so an unloaded UPS still drains. Default 5. */
  idleLoadPercent?: number;
  /** Time to recharge from empty to full on mains (s). Default 8 h. */
  rechargeTimeS?: number;
  /** Open-circuit voltage of a full battery (V). Default 13.6. */
  fullVoltage?: number;
  /** Open-circuit voltage of an empty battery (V). Default 10.5. */
  emptyVoltage?: number;
  /** Charger float voltage shown on mains (V). Default 13.6. */
  floatVoltage?: number;
  /** Battery plus wiring resistance (Ω), for the sag under load. Default 0.03. */
  internalResistanceOhm?: number;
  /** LB (b6) below this charge (%). Default 20. */
  lowBatteryPercent?: number;
  /** Initial state. */
  mains?: boolean;
  loadPercent?: number;
  chargePercent?: number;
  beeper?: boolean;
  temperature?: number;
  logLimit?: number;
}

export type LowBatteryMode = 'auto' | 'on' | 'off';

export interface UpsState {
  time: number;
  mains: boolean;
  input: { voltage: number; faultVoltage: number; frequency: number };
  output: { on: boolean; voltage: number; frequency: number; loadPercent: number };
  /** The load the equipment would draw with the output on (%). */
  demandLoadPercent: number;
  battery: {
    chargePercent: number;
    chargeAh: number;
    voltage: number;
    /** Seconds a battery at this charge lasts at the present load. */
    runtimeS: number;
    lowBattery: boolean;
    lowBatteryMode: LowBatteryMode;
    state: 'discharging' | 'charging' | 'idle';
  };
  temperature: number;
  beeper: boolean;
  test: { mode: TestMode; startedAt: number; endsAt: number | null } | null;
  shutdown: {
    phase: 'countdown' | 'off';
    cmd: string | null;
    restore: string;
    /** countdown: when the output goes off; off: when it comes back, if scheduled. */
    at: number | null;
    /** off: what it waits for. */
    waiting: 'delay' | 'mains' | 'scheduled' | 'stayoff' | null;
  } | null;
  /** b7..b0 as the Q1 reply sends them. */
  bits: string;
}

/** The fixed electrical parameters, after defaults. */
interface BatteryParams {
  faultVoltageOffset: number;
  ratedPowerW: number;
  capacityAh: number;
  runtimeAtFullLoadS: number;
  peukertExponent: number;
  idleLoadPercent: number;
  rechargeTimeS: number;
  fullVoltage: number;
  emptyVoltage: number;
  floatVoltage: number;
  internalResistanceOhm: number;
  lowBatteryPercent: number;
}

export const DEFAULT_PEUKERT_EXPONENT = 1.25;
export const DEFAULT_LOAD_PERCENT = 28;

// The UPS holds its output off at least this long after an off (spec: C, S<n>).
const MIN_OFF_MS = 10_000;
const ON_MAINS_HOLD_MS = 10_000;
// Timers land on whole milliseconds; one more makes the crossing strict despite rounding.
const CROSSING_SLACK_MS = 1;

type Power =
  | { state: 'on' }
  | { state: 'countdown'; cmd: string; plan: RestorePlan; offAt: number; timer: TimerHandle }
  | {
      state: 'off';
      since: number;
      cmd: string | undefined;
      plan: RestorePlan;
      /** delay: R<m> minutes running; mains: waits for mains then `holdMs`; scheduled: on at `at`. */
      wait: 'delay' | 'mains' | 'scheduled' | 'stayoff';
      holdMs: number;
      onReason: string;
      at?: number;
      timer?: TimerHandle;
    };

interface Test {
  mode: TestMode;
  startedAt: number;
  endsAt?: number;
  timer?: TimerHandle;
}

export class UpsModel {
  readonly log: SimLog;
  readonly rating: Rating;
  readonly identity: Identity;
  private readonly clock: Clock;
  private readonly o: BatteryParams;

  private mains: boolean;
  private inputVoltage: number;
  private inputFrequency: number;
  private load: number;
  private chargeAh: number;
  private beeper: boolean;
  private temperature: number;
  private lbMode: LowBatteryMode = 'auto';
  private power: Power = { state: 'on' };
  private test: Test | undefined;
  private lastUpdate: number;
  private lastLowBattery: boolean;
  private batteryTimer: TimerHandle | undefined;
  private disposed = false;

  constructor(options: UpsModelOptions) {
    this.clock = options.clock;
    this.log = new SimLog(options.clock, options.logLimit ?? DEFAULT_LOG_LIMIT);
    this.rating = { voltage: 220, current: 3, batteryVoltage: 12, frequency: 50, ...options.rating };
    this.identity = { manufacturer: 'IPPON', model: 'BB 650S', firmware: 'V3.2', ...options.identity };
    this.o = {
      faultVoltageOffset: options.faultVoltageOffset ?? 0.6,
      ratedPowerW: positive('ratedPowerW', options.ratedPowerW ?? 360),
      capacityAh: positive('capacityAh', options.capacityAh ?? 7),
      runtimeAtFullLoadS: positive('runtimeAtFullLoadS', options.runtimeAtFullLoadS ?? 120),
      peukertExponent: positive('peukertExponent', options.peukertExponent ?? DEFAULT_PEUKERT_EXPONENT),
      idleLoadPercent: percent('idleLoadPercent', options.idleLoadPercent ?? 5),
      rechargeTimeS: positive('rechargeTimeS', options.rechargeTimeS ?? 8 * 3600),
      fullVoltage: options.fullVoltage ?? 13.6,
      emptyVoltage: options.emptyVoltage ?? 10.5,
      floatVoltage: options.floatVoltage ?? 13.6,
      internalResistanceOhm: options.internalResistanceOhm ?? 0.03,
      lowBatteryPercent: percent('lowBatteryPercent', options.lowBatteryPercent ?? 20),
    };
    if (!(this.o.fullVoltage > this.o.emptyVoltage)) throw new RangeError('fullVoltage must be above emptyVoltage');
    this.mains = options.mains ?? true;
    this.inputVoltage = options.inputVoltage ?? 228.0;
    this.inputFrequency = options.inputFrequency ?? 50.1;
    this.load = percent('loadPercent', options.loadPercent ?? DEFAULT_LOAD_PERCENT);
    this.chargeAh = (percent('chargePercent', options.chargePercent ?? 100) / 100) * this.o.capacityAh;
    this.beeper = options.beeper ?? true;
    this.temperature = options.temperature ?? 25.0;
    this.lastUpdate = this.clock.now();
    this.lastLowBattery = this.lowBattery();
    this.scheduleBatteryMilestone();
  }

  // ---- the wire -------------------------------------------------------------------------

  /** Records a command as received (raw bytes incl. CR), acts on it, and returns what it was. */
  receive(raw: Buffer): UpsCommand {
    this.log.rx(raw);
    const command = parseCommand(commandText(raw));
    this.apply(command);
    return command;
  }

  private apply(command: UpsCommand): void {
    switch (command.kind) {
      case 'status':
      case 'rating':
      case 'info':
        return; // queries: the responder answers from snapshot()/rating/identity
      case 'unknown':
        this.log.event(`UNKNOWN cmd=${JSON.stringify(command.text)}`);
        return;
      case 'beeper-toggle':
        this.beeper = !this.beeper;
        this.log.event(`BEEPER ${this.beeper ? 'enabled' : 'disabled'}`);
        return;
      case 'test':
        return this.mutate(() => this.startTest(command.mode, command.durationMs));
      case 'cancel-test':
        return this.mutate(() => {
          if (this.test) this.endTest('cancelled');
          else this.log.event('CT (no test running)');
        });
      case 'cancel-shutdown':
        return this.mutate(() => this.cancelShutdown());
      case 'shutdown':
        return this.mutate(() => this.armShutdown(command.text, command.offDelayMs, command.restore));
    }
  }

  // ---- control (the simulator's knobs) -----------------------------------------------------

  setMains(on: boolean, values: { voltage?: number; frequency?: number } = {}): void {
    const voltage = values.voltage === undefined ? this.inputVoltage : nonNegative('voltage', values.voltage);
    const frequency = values.frequency === undefined ? this.inputFrequency : nonNegative('frequency', values.frequency);
    this.mutate(() => {
      this.inputVoltage = voltage;
      this.inputFrequency = frequency;
      const detail = `voltage=${this.inputVoltage.toFixed(1)} frequency=${this.inputFrequency.toFixed(1)}`;
      if (on === this.mains) {
        if (on) this.log.event(`MAINS ${detail}`);
        return;
      }
      this.mains = on;
      if (on) {
        this.log.event(`MAINS_RETURNED ${detail}`);
        this.onMainsReturned();
      } else {
        this.log.event('MAINS_LOST');
        this.onMainsLost();
      }
    });
  }

  setLoad(loadPercent: number): void {
    const load = percent('load', loadPercent);
    this.mutate(() => {
      this.load = load;
      this.log.event(`LOAD percent=${load}`);
    });
  }

  setCharge(chargePercent: number): void {
    const chargeAh = (percent('charge', chargePercent) / 100) * this.o.capacityAh;
    this.mutate(() => {
      this.chargeAh = chargeAh;
      this.log.event(`CHARGE percent=${chargePercent}`);
    });
  }

  setLowBatteryMode(mode: LowBatteryMode): void {
    this.mutate(() => {
      this.lbMode = mode;
      this.log.event(`LB_FORCED mode=${mode}`);
    });
  }

  /** The present state; brings the battery up to date first. */
  snapshot(): UpsState {
    this.refresh();
    const outputOn = this.outputOn();
    return {
      time: this.clock.now(),
      mains: this.mains,
      input: {
        voltage: this.mains ? this.inputVoltage : 0,
        faultVoltage: this.mains ? Math.max(0, this.inputVoltage - this.o.faultVoltageOffset) : 0,
        frequency: this.mains ? this.inputFrequency : 0,
      },
      output: {
        on: outputOn,
        // Line-interactive: mains passes through; the inverter makes the rated voltage.
        voltage: !outputOn ? 0 : this.onInverter() ? this.rating.voltage : this.inputVoltage,
        frequency: !outputOn ? 0 : this.onInverter() ? this.rating.frequency : this.inputFrequency,
        loadPercent: this.outputLoad(),
      },
      demandLoadPercent: this.load,
      battery: {
        chargePercent: round((this.chargeAh / this.o.capacityAh) * 100, 2),
        chargeAh: round(this.chargeAh, 4),
        voltage: round(this.batteryVoltage(), 3),
        runtimeS: Math.round((this.chargeAh / this.o.capacityAh) * this.runtimeAtLoadS(Math.max(this.load, this.o.idleLoadPercent))),
        lowBattery: this.lowBattery(),
        lowBatteryMode: this.lbMode,
        state: this.batteryState(),
      },
      temperature: this.temperature,
      beeper: this.beeper,
      test: this.test ? { mode: this.test.mode, startedAt: this.test.startedAt, endsAt: this.test.endsAt ?? null } : null,
      shutdown: this.shutdownState(),
      bits: this.bits(),
    };
  }

  /** The Q1 fields for the present state. */
  statusFields(): StatusFields {
    const s = this.snapshot();
    return {
      inputVoltage: s.input.voltage,
      inputFaultVoltage: s.input.faultVoltage,
      outputVoltage: s.output.voltage,
      loadPercent: s.output.loadPercent,
      frequency: s.mains ? s.input.frequency : s.output.frequency,
      batteryVoltage: s.battery.voltage,
      temperature: s.temperature,
      bits: s.bits,
    };
  }

  /** Stops the model's timers (the simulator is shutting down). */
  dispose(): void {
    this.disposed = true;
    this.clock.clearTimeout(this.batteryTimer);
    this.clock.clearTimeout(this.test?.timer);
    if (this.power.state !== 'on') this.clock.clearTimeout(this.power.timer);
  }

  // ---- battery ------------------------------------------------------------------------------

  /** Full-battery runtime (s) at `loadPercent`: runtimeAtFullLoad · (100/load)^k. */
  runtimeAtLoadS(loadPercent: number): number {
    return this.o.runtimeAtFullLoadS * (100 / loadPercent) ** this.o.peukertExponent;
  }

  private outputOn(): boolean {
    return this.power.state !== 'off';
  }

  private outputLoad(): number {
    return this.outputOn() ? this.load : 0;
  }

  /** The output runs from the inverter: on battery, or during a battery test. */
  private onInverter(): boolean {
    return this.outputOn() && (!this.mains || this.test !== undefined);
  }

  private batteryState(): 'discharging' | 'charging' | 'idle' {
    if (this.onInverter()) return 'discharging';
    return this.mains ? 'charging' : 'idle';
  }

  /** Ah per ms, signed: negative while discharging. */
  private chargeRate(): number {
    switch (this.batteryState()) {
      case 'discharging': {
        const load = Math.max(this.load, this.o.idleLoadPercent);
        return -this.o.capacityAh / (this.runtimeAtLoadS(load) * 1000);
      }
      case 'charging':
        return this.o.capacityAh / (this.o.rechargeTimeS * 1000);
      case 'idle':
        return 0;
    }
  }

  private batteryVoltage(): number {
    if (!this.onInverter() && this.mains) return this.o.floatVoltage;
    const soc = this.chargeAh / this.o.capacityAh;
    const ocv = this.o.emptyVoltage + (this.o.fullVoltage - this.o.emptyVoltage) * soc;
    // Sag under load: the battery current for the load's power times the internal resistance.
    const currentA = this.onInverter() ? ((this.load / 100) * this.o.ratedPowerW) / ocv : 0;
    return Math.max(0, ocv - currentA * this.o.internalResistanceOhm);
  }

  private lowBattery(): boolean {
    if (this.lbMode !== 'auto') return this.lbMode === 'on';
    return this.chargeAh < this.thresholdAh();
  }

  private thresholdAh(): number {
    return (this.o.lowBatteryPercent / 100) * this.o.capacityAh;
  }

  /**
   * Runs `change` on a battery brought up to the present under the old conditions, then reacts
   * to what the change (or the passing time) caused and plans the next battery milestone.
   */
  private mutate(change: () => void): void {
    if (this.disposed) return;
    const now = this.clock.now();
    const rate = this.chargeRate();
    this.chargeAh = clamp(this.chargeAh + rate * (now - this.lastUpdate), 0, this.o.capacityAh);
    this.lastUpdate = now;
    change();
    this.react();
    this.scheduleBatteryMilestone();
  }

  /** Brings the battery up to the present and reacts to what the passing time caused. */
  private refresh(): void {
    this.mutate(() => undefined);
  }

  private react(): void {
    const low = this.lowBattery();
    if (low !== this.lastLowBattery) {
      this.lastLowBattery = low;
      const charge = `charge=${round((this.chargeAh / this.o.capacityAh) * 100, 1)}%`;
      this.log.event(low ? `LOW_BATTERY ${charge}` : `LOW_BATTERY_CLEARED ${charge}`);
      if (low) this.onLowBattery();
    }
    if (this.batteryState() === 'discharging' && this.chargeAh <= 0) {
      this.log.event('BATTERY_EXHAUSTED');
      if (this.test) this.endTest('battery_exhausted');
      if (!this.mains) this.outputOff('battery_exhausted', this.pendingPlan() ?? { kind: 'on-mains' }, this.pendingCmd());
    }
  }

  private onLowBattery(): void {
    // Spec: a test returns to utility at battery low, and a pending S<n> turns the output off at once.
    if (this.test) this.endTest('battery_low');
    if (this.power.state === 'countdown') this.outputOff('battery_low', this.power.plan, this.power.cmd);
  }

  /** One timer at the next point where the charge crosses the LB threshold or runs out. */
  private scheduleBatteryMilestone(): void {
    this.clock.clearTimeout(this.batteryTimer);
    this.batteryTimer = undefined;
    if (this.disposed) return;
    const rate = this.chargeRate();
    const threshold = this.thresholdAh();
    let targetAh: number | undefined;
    if (rate < 0) targetAh = this.chargeAh >= threshold ? threshold : this.chargeAh > 0 ? 0 : undefined;
    else if (rate > 0 && this.chargeAh < threshold) targetAh = threshold;
    if (targetAh === undefined) return;
    const ms = Math.ceil((targetAh - this.chargeAh) / rate) + CROSSING_SLACK_MS;
    this.batteryTimer = this.clock.setTimeout(() => {
      this.batteryTimer = undefined;
      this.refresh();
    }, ms);
  }

  // ---- battery test -------------------------------------------------------------------------

  private startTest(mode: TestMode, durationMs: number | undefined): void {
    const refusal = !this.mains ? 'on_battery' : !this.outputOn() ? 'output_off' : this.lowBattery() ? 'battery_low' : undefined;
    if (refusal) {
      this.log.event(`TEST_REFUSED mode=${mode} reason=${refusal}`);
      return;
    }
    if (this.test) this.endTest('replaced');
    const now = this.clock.now();
    const test: Test = { mode, startedAt: now };
    if (durationMs !== undefined) {
      test.endsAt = now + durationMs;
      test.timer = this.clock.setTimeout(() => this.mutate(() => this.endTest('completed')), durationMs);
    }
    this.test = test;
    this.log.event(`TEST_STARTED mode=${mode}${durationMs !== undefined ? ` duration=${durationMs / 1000}s` : ''}`);
  }

  private endTest(reason: string): void {
    const test = this.test;
    if (!test) return;
    this.clock.clearTimeout(test.timer);
    this.test = undefined;
    this.log.event(`TEST_ENDED mode=${test.mode} reason=${reason}`);
  }

  // ---- shutdown and restore -----------------------------------------------------------------

  private armShutdown(cmd: string, offDelayMs: number, plan: RestorePlan): void {
    if (this.power.state === 'off') {
      this.log.event(`S ignored cmd=${cmd} (output already off)`);
      return;
    }
    if (this.power.state === 'countdown') this.clock.clearTimeout(this.power.timer);
    const timer = this.clock.setTimeout(
      () => this.mutate(() => this.outputOff('shutdown_delay_expired', plan, cmd)),
      offDelayMs,
    );
    this.power = { state: 'countdown', cmd, plan, offAt: this.clock.now() + offDelayMs, timer };
    this.log.event(`SHUTDOWN_ARMED cmd=${cmd} off_in=${offDelayMs / 1000}s restore=${describeRestore(plan)}`);
  }

  private cancelShutdown(): void {
    const power = this.power;
    if (power.state === 'countdown') {
      this.clock.clearTimeout(power.timer);
      this.power = { state: 'on' };
      this.log.event(`SHUTDOWN_CANCELLED cmd=${power.cmd}`);
      return;
    }
    if (power.state === 'off') {
      // Spec: C in the restore wait turns the output on, after at least 10 s off, with mains.
      this.clock.clearTimeout(power.timer);
      this.log.event(`RESTORE_WAIT_CANCELLED wait=${power.wait}`);
      Object.assign(power, { wait: 'mains', holdMs: 0, onReason: 'cancel', timer: undefined, at: undefined });
      if (this.mains) this.scheduleOutputOn();
      return;
    }
    this.log.event('C (nothing pending)');
  }

  private outputOff(reason: string, plan: RestorePlan, cmd: string | undefined): void {
    if (this.power.state === 'countdown') this.clock.clearTimeout(this.power.timer);
    if (this.test) this.endTest('output_off');
    const since = this.clock.now();
    this.log.event(`OUTPUT_OFF reason=${reason} restore=${describeRestore(plan)}`);
    switch (plan.kind) {
      case 'stayoff':
        this.power = { state: 'off', since, cmd, plan, wait: 'stayoff', holdMs: 0, onReason: 'restore' };
        return;
      case 'on-mains':
        this.power = { state: 'off', since, cmd, plan, wait: 'mains', holdMs: ON_MAINS_HOLD_MS, onReason: 'restore' };
        if (this.mains) this.scheduleOutputOn();
        return;
      case 'after-minutes': {
        const timer = this.clock.setTimeout(() => this.mutate(() => this.restoreDelayExpired()), plan.minutes * 60_000);
        this.power = { state: 'off', since, cmd, plan, wait: 'delay', holdMs: 0, onReason: 'restore', at: since + plan.minutes * 60_000, timer };
        return;
      }
    }
  }

  private restoreDelayExpired(): void {
    if (this.power.state !== 'off') return;
    this.log.event('RESTORE_DELAY_EXPIRED');
    Object.assign(this.power, { wait: 'mains', timer: undefined, at: undefined });
    if (this.mains) this.scheduleOutputOn();
    else this.log.event('RESTORE_WAITING_FOR_MAINS');
  }

  /** In the mains wait with mains present: on after the hold, but never before 10 s off. */
  private scheduleOutputOn(): void {
    const power = this.power;
    if (power.state !== 'off' || power.wait !== 'mains') return;
    const now = this.clock.now();
    const at = Math.max(now + power.holdMs, power.since + MIN_OFF_MS);
    power.wait = 'scheduled';
    power.at = at;
    power.timer = this.clock.setTimeout(() => this.mutate(() => this.turnOutputOn(power.onReason)), at - now);
    this.log.event(`OUTPUT_ON_SCHEDULED in=${((at - now) / 1000).toFixed(1)}s`);
  }

  private turnOutputOn(reason: string): void {
    this.power = { state: 'on' };
    this.log.event(`OUTPUT_ON reason=${reason}`);
  }

  private onMainsLost(): void {
    if (this.test) this.endTest('mains_lost');
    const power = this.power;
    if (power.state === 'off' && power.wait === 'scheduled') {
      this.clock.clearTimeout(power.timer);
      Object.assign(power, { wait: 'mains', timer: undefined, at: undefined });
      this.log.event('OUTPUT_ON_CANCELLED reason=mains_lost');
    }
  }

  private onMainsReturned(): void {
    if (this.power.state === 'off') this.scheduleOutputOn();
  }

  private pendingPlan(): RestorePlan | undefined {
    return this.power.state === 'countdown' ? this.power.plan : undefined;
  }

  private pendingCmd(): string | undefined {
    return this.power.state === 'countdown' ? this.power.cmd : undefined;
  }

  private shutdownState(): UpsState['shutdown'] {
    const power = this.power;
    if (power.state === 'countdown') {
      return { phase: 'countdown', cmd: power.cmd, restore: describeRestore(power.plan), at: power.offAt, waiting: null };
    }
    if (power.state === 'off') {
      return { phase: 'off', cmd: power.cmd ?? null, restore: describeRestore(power.plan), at: power.at ?? null, waiting: power.wait };
    }
    return null;
  }

  private bits(): string {
    const power = this.power;
    return formatBits({
      utilityFail: !this.mains,
      batteryLow: this.lowBattery(),
      avrActive: false,
      upsFailed: false,
      standby: true,
      testInProgress: this.test !== undefined,
      // A shutdown command is active from arming until the output is back (or C).
      shutdownActive: power.state === 'countdown' || (power.state === 'off' && power.cmd !== undefined),
      beeperOn: this.beeper,
    });
  }
}

/** runtimeAtFullLoadS for a battery that should last `runtimeS` at `loadPercent` (CLI `--runtime`). */
export function runtimeAtFullLoadFor(runtimeS: number, loadPercent: number, peukertExponent = DEFAULT_PEUKERT_EXPONENT): number {
  if (!(loadPercent > 0 && loadPercent <= 100)) throw new RangeError(`the runtime needs a load of 1..100 %, got ${loadPercent}`);
  return positive('runtime', runtimeS) * (loadPercent / 100) ** peukertExponent;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a number ≥ 0, got ${v}`);
  return v;
}

function percent(name: string, v: number): number {
  if (!(Number.isFinite(v) && v >= 0 && v <= 100)) throw new RangeError(`${name} must be a percentage 0..100, got ${v}`);
  return v;
}
