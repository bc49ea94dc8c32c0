import type { PollSample } from '../ups/types.js';
import { DEFAULT_MESSAGES, formatMessage } from './messages.js';
import type { NutEventName, UpsEvent } from './types.js';

/** Status tokens upsmon announces when they appear and, with a NOT* event, when they go away. */
export const TRACKED_TOKENS = ['CAL', 'OFF', 'BYPASS', 'ALARM', 'OVER', 'TRIM', 'BOOST'] as const;
export type TrackedToken = (typeof TRACKED_TOKENS)[number];

const CLEAR_EVENT: Record<TrackedToken, NutEventName> = {
  CAL: 'NOTCAL',
  OFF: 'NOTOFF',
  BYPASS: 'NOTBYPASS',
  ALARM: 'NOTALARM',
  OVER: 'NOTOVER',
  TRIM: 'NOTTRIM',
  BOOST: 'NOTBOOST',
};

/** `unknown` before the first poll (upsmon's commstate -1), `lost` once COMMBAD was sent. */
export type CommState = 'unknown' | 'ok' | 'lost';

/**
 * Why upsmon would count the UPS as critical (`is_ups_critical` after `recalc`'s DEADTIME promotion),
 * in that order of precedence.
 */
export type CriticalReason = 'forced shutdown' | 'low battery' | 'off too long' | 'dead on battery';

export interface MonitorState {
  readonly ups: string;
  readonly commState: CommState;
  /** True while the last poll succeeded. */
  readonly commOk: boolean;
  /** Clock time of the last successful poll. */
  readonly lastGoodPoll?: number;
  /** ups.status of the last successful poll ('' before any). */
  readonly lastStatus: string;
  /** Last seen OL / OB. Both keep their value while communication is lost. */
  readonly online: boolean;
  readonly onBattery: boolean;
  /** When the current stretch on battery began (the poll that raised ONBATT). */
  readonly onBatterySince?: number;
  /** LB as the UPS reports it (the DEADTIME promotion shows up in criticalReasons instead). */
  readonly lowBattery: boolean;
  readonly fsd: boolean;
  readonly replaceBattery: boolean;
  readonly tokens: Readonly<Record<TrackedToken, boolean>>;
  /** ups.alarm text while ALARM is set. */
  readonly alarm?: string;
  /** When OFF appeared, for OFFDURATION. */
  readonly offSince?: number;
  readonly critical: boolean;
  /** The first of criticalReasons. */
  readonly criticalReason?: CriticalReason;
  readonly criticalReasons: readonly CriticalReason[];
}

export interface MonitorOptions {
  /** UPS name used in events and messages. */
  ups: string;
  /** DEADTIME: a UPS last seen on battery and silent for longer is critical. */
  deadtimeMs?: number;
  /** NOCOMMWARNTIME: NOCOMM after this long without a good poll, and again at this interval. */
  nocommWarnMs?: number;
  /** RBWARNTIME: least time between two REPLBATT events. */
  rbWarnMs?: number;
  /** OFFDURATION: OFF for longer than this is critical. */
  offDurationMs?: number;
  /**
   * upsd's MAXAGE: with no sample at all (not even a failed one) for longer than this, tick()
   * counts a failed poll, so a driver that stopped reporting still raises COMMBAD.
   */
  maxAgeMs?: number;
  /** NOTIFYMSG overrides; `%s` is the UPS name. */
  messages?: Partial<Record<NutEventName, string>>;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
  return value;
}

/**
 * NUT upsmon's per-UPS rules as a pure state machine: feed it every poll with observe() and the
 * passing of time with tick(); both return the notifications that became due. It never reads a
 * clock itself, so every timestamp comes from the samples or the caller.
 */
export class Monitor {
  readonly ups: string;
  private readonly deadtimeMs: number;
  private readonly nocommWarnMs: number;
  private readonly rbWarnMs: number;
  private readonly offDurationMs: number;
  private readonly maxAgeMs: number;
  private readonly messages: Readonly<Record<NutEventName, string>>;

  private commState: CommState = 'unknown';
  private commLostAt: number | undefined;
  private lastGoodPoll: number | undefined;
  private lastSampleAt: number | undefined;
  /** First time the monitor heard of time at all: the silence reference before any sample. */
  private firstSeenAt: number | undefined;
  private lastNocommAt: number | undefined;
  private lastRbWarnAt: number | undefined;
  private lastStatus = '';
  private online = false;
  private onBattery = false;
  private onBatterySince: number | undefined;
  private lowBattery = false;
  private fsd = false;
  private replaceBattery = false;
  private readonly tokens: Record<TrackedToken, boolean> = {
    CAL: false,
    OFF: false,
    BYPASS: false,
    ALARM: false,
    OVER: false,
    TRIM: false,
    BOOST: false,
  };
  private alarm: string | undefined;
  private offSince: number | undefined;
  private criticalReasons: CriticalReason[] = [];
  private snapshot: MonitorState;
  private snapshotKey: string;

  constructor(options: MonitorOptions) {
    if (!options.ups) throw new RangeError('monitor needs a UPS name');
    this.ups = options.ups;
    this.deadtimeMs = nonNegative('deadtimeMs', options.deadtimeMs ?? 15_000);
    this.nocommWarnMs = nonNegative('nocommWarnMs', options.nocommWarnMs ?? 300_000);
    this.rbWarnMs = nonNegative('rbWarnMs', options.rbWarnMs ?? 43_200_000);
    this.offDurationMs = nonNegative('offDurationMs', options.offDurationMs ?? 30_000);
    this.maxAgeMs = nonNegative('maxAgeMs', options.maxAgeMs ?? 15_000);
    this.messages = { ...DEFAULT_MESSAGES, ...options.messages };
    this.snapshot = this.buildState();
    this.snapshotKey = JSON.stringify(this.snapshot);
  }

  /**
   * The current state. The object is immutable and is replaced only when something changed, so
   * callers can compare references to detect a change.
   */
  get state(): MonitorState {
    return this.snapshot;
  }

  /** Takes one poll. A failed poll (ok false, stale data or an empty status) counts as lost contact. */
  observe(sample: PollSample): UpsEvent[] {
    const now = sample.time;
    this.firstSeenAt ??= now;
    this.lastSampleAt = now;
    const events: UpsEvent[] = [];
    const status = sample.status.trim();
    // upsmon treats an empty ups.status like a dead UPS.
    if (!sample.ok || sample.stale || status === '') this.pollFailed(now, events);
    else this.pollSucceeded(now, status, sample.variables, events);
    this.recalc(now);
    return events;
  }

  /** Applies the rules that depend on time alone: driver silence, NOCOMM repeats, DEADTIME, OFFDURATION. */
  tick(now: number): UpsEvent[] {
    this.firstSeenAt ??= now;
    const events: UpsEvent[] = [];
    const silentFor = now - (this.lastSampleAt ?? this.firstSeenAt);
    if (silentFor > this.maxAgeMs || this.commState === 'lost') this.pollFailed(now, events);
    this.recalc(now);
    return events;
  }

  /** The SHUTDOWN notification, for whoever starts the final shutdown (upsmon's doshutdown). */
  shutdownEvent(time: number): UpsEvent {
    return this.event('SHUTDOWN', time, this.lastStatus);
  }

  private pollSucceeded(now: number, status: string, variables: Readonly<Record<string, string>>, events: UpsEvent[]): void {
    const emit = (name: NutEventName, detail?: string) => events.push(this.event(name, now, status, detail));
    this.lastGoodPoll = now;
    // COMMOK only after COMMBAD: the first contact is silent (upsmon's commstate -1 → 1).
    if (this.commState === 'lost') emit('COMMOK');
    this.commState = 'ok';
    this.lastStatus = status;

    const present = new Set(status.toUpperCase().split(/\s+/));
    // LB, FSD and RB have no NOT* event; upsmon just forgets them.
    if (!present.has('LB')) this.lowBattery = false;
    if (!present.has('FSD')) this.fsd = false;
    if (!present.has('RB')) this.replaceBattery = false;
    for (const token of TRACKED_TOKENS) {
      if (present.has(token) || !this.tokens[token]) continue;
      this.tokens[token] = false;
      if (token === 'OFF') this.offSince = undefined;
      if (token === 'ALARM') this.alarm = undefined;
      emit(CLEAR_EVENT[token]);
    }

    // OB wins over a contradictory OL: staying on battery is the safe reading.
    if (present.has('OB')) {
      if (!this.onBattery) {
        this.onBatterySince = now;
        emit('ONBATT');
      }
      this.onBattery = true;
      this.online = false;
    } else if (present.has('OL')) {
      // Only a return from battery is news; the first OL at startup is not.
      if (this.onBattery) emit('ONLINE');
      this.onBattery = false;
      this.onBatterySince = undefined;
      this.online = true;
    }

    if (present.has('LB') && !this.lowBattery) {
      this.lowBattery = true;
      emit('LOWBATT');
    }

    if (present.has('RB')) {
      this.replaceBattery = true;
      if (this.lastRbWarnAt === undefined || now - this.lastRbWarnAt >= this.rbWarnMs) {
        this.lastRbWarnAt = now;
        emit('REPLBATT');
      }
    }

    for (const token of TRACKED_TOKENS) {
      if (!present.has(token)) continue;
      if (token === 'ALARM') {
        // upsmon repeats ALARM when the alarm text changes, and names it in the message.
        const text = variables['ups.alarm'] ?? '';
        if (!this.tokens.ALARM || text !== this.alarm) emit('ALARM', text);
        this.alarm = text;
      } else if (!this.tokens[token]) {
        if (token === 'OFF') this.offSince = now;
        emit(token);
      }
      this.tokens[token] = true;
    }

    // FSD is latched upstream; announce it once per appearance.
    if (present.has('FSD') && !this.fsd) {
      this.fsd = true;
      emit('FSD');
    }
  }

  /** upsmon's ups_is_gone: COMMBAD on the first failure, then NOCOMM at most every nocommWarnMs. */
  private pollFailed(now: number, events: UpsEvent[]): void {
    if (this.commState !== 'lost') {
      this.commState = 'lost';
      this.commLostAt = now;
      events.push(this.event('COMMBAD', now, this.lastStatus));
      return;
    }
    // Never in contact: count from the COMMBAD instead of upsmon's epoch 0, which would warn at once.
    const since = this.lastGoodPoll ?? this.commLostAt ?? now;
    if (now - since < this.nocommWarnMs) return;
    if (this.lastNocommAt !== undefined && now - this.lastNocommAt < this.nocommWarnMs) return;
    this.lastNocommAt = now;
    events.push(this.event('NOCOMM', now, this.lastStatus));
  }

  private recalc(now: number): void {
    const reasons: CriticalReason[] = [];
    if (this.fsd) reasons.push('forced shutdown');
    // A calibration runs the battery down on purpose; upsmon does not call that critical.
    if (this.onBattery && this.lowBattery && !this.tokens.CAL) reasons.push('low battery');
    if (this.offSince !== undefined && now - this.offSince > this.offDurationMs) reasons.push('off too long');
    // DEADTIME: last seen on battery and silent since; upsmon promotes it to OB+LB.
    if (this.onBattery && this.lastGoodPoll !== undefined && now - this.lastGoodPoll > this.deadtimeMs) {
      reasons.push('dead on battery');
    }
    this.criticalReasons = reasons;
    const next = this.buildState();
    const key = JSON.stringify(next);
    if (key !== this.snapshotKey) {
      this.snapshot = next;
      this.snapshotKey = key;
    }
  }

  private buildState(): MonitorState {
    return Object.freeze({
      ups: this.ups,
      commState: this.commState,
      commOk: this.commState === 'ok',
      lastGoodPoll: this.lastGoodPoll,
      lastStatus: this.lastStatus,
      online: this.online,
      onBattery: this.onBattery,
      onBatterySince: this.onBatterySince,
      lowBattery: this.lowBattery,
      fsd: this.fsd,
      replaceBattery: this.replaceBattery,
      tokens: Object.freeze({ ...this.tokens }),
      alarm: this.alarm,
      offSince: this.offSince,
      critical: this.criticalReasons.length > 0,
      criticalReason: this.criticalReasons[0],
      criticalReasons: Object.freeze([...this.criticalReasons]),
    });
  }

  private event(name: NutEventName, time: number, status: string, detail?: string): UpsEvent {
    return { time, ups: this.ups, event: name, status, message: formatMessage(this.messages[name], this.ups, detail ?? '') };
  }
}
