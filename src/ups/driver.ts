import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { BatteryModel, type BatteryConfig } from './battery.js';
import { RuntimeEstimator, type LearnedRuntime } from './battery-runtime.js';
import {
  INSTCMDS,
  UpsCommandError,
  instcmdWire,
  isInstcmd,
  isWritableVariable,
  parseSeconds,
  WRITABLE_VARIABLES,
  type WritableVariable,
} from './instcmd.js';
import {
  DEFAULT_OFFDELAY_S,
  DEFAULT_ONDELAY_S,
  QUERY_IDENTITY,
  QUERY_RATING,
  QUERY_STATUS,
  SHUTDOWN_CANCEL,
  SHUTDOWN_DELAY_RANGE,
  START_DELAY_RANGE,
  commandText,
  requireRange,
  roundShutdownDelay,
  roundStartDelay,
  shutdownReturn,
  shutdownStayOff,
} from './megatec/commands.js';
import {
  checkCommandReply,
  parseIdentity,
  parseQ1,
  parseRating,
  type Identity,
  type ParseError,
  type ParseResult,
  type Q1Reading,
  type Rating,
} from './megatec/parse.js';
import { deriveStatus } from './megatec/status.js';
import { TransportError, type Transport } from './transport/transport.js';
import type { PollSample } from './types.js';
import { nutVariables, type PollValues } from './variables.js';

export const DEFAULT_POLL_INTERVAL_MS = 1000;
/** NUT: failed polls 1–4 only count; the 5th in a row marks the data stale. */
export const STALE_AFTER_FAILURES = 5;
/** F and I are given up after this many garbled replies (an echo or silence settles at once). */
export const STATIC_QUERY_TRIES = 3;
/** How long a reply may take (NUT's SER_WAIT_SEC). Commands such as S, T, C and Q get none. */
export const REPLY_TIMEOUT_MS = 1000;
/** upsdrvctl shutdown's gap between `C` and the shutdown command (the unanswered C's timeout). */
export const SHUTDOWN_CANCEL_GAP_MS = 1000;
/** NUT's MAXTRIES for each command of the shutdown sequence. */
export const SHUTDOWN_TRIES = 3;

export interface DriverBatteryOptions extends BatteryConfig {
  /** Runtime of a full battery at 100 % load (s), until one is learned. Default 180. */
  runtimeFullLoadS?: number;
  /** What an earlier run learned (the 'learned' event's value, persisted by the daemon). */
  learnedRuntime?: LearnedRuntime;
}

export interface UpsDriverOptions {
  /** The UPS name, for log messages. */
  name: string;
  /** driver.parameter.port as configured (`auto`, `/dev/ttyUSB0`). Default: the transport's description. */
  port?: string;
  /** Time between Q1 polls. Default 1000 ms. */
  pollIntervalMs?: number;
  battery?: DriverBatteryOptions;
  /** ups.delay.shutdown (s), 12..600. Default 30. */
  offdelay?: number;
  /** ups.delay.start (s), 0..599940. Default 180. */
  ondelay?: number;
  /** Ignore the Shutdown Active bit (NUT `ignoresab`), for units that keep it stuck at 1. */
  ignoresab?: boolean;
  clock?: Clock;
  logger?: Logger;
}

export interface DriverCounters {
  /** Q1 polls sent. */
  polls: number;
  /** Polls without a valid Q1 reply (any reason). */
  failures: number;
  /** Replies that were not a valid Q1 (garbled, partial, echoed). */
  garbled: number;
  /** Polls with no complete reply in time. */
  timeouts: number;
  /** Good polls after the transport had reported the device lost. */
  reconnects: number;
}

export interface UpsDriverEvents {
  /** After every poll, good or not. */
  poll: [PollSample];
  /** The runtime estimator learned a new full-load runtime; persist it for the next start. */
  learned: [LearnedRuntime];
}

/** F or I: asked until answered, echoed or unanswered, or until STATIC_QUERY_TRIES garbled replies. */
interface StaticQuery {
  readonly label: string;
  readonly command: string;
  /** Applies a valid reply; returns why it is not one otherwise. */
  readonly accept: (reply: string) => ParseError | undefined;
  badReplies: number;
  settled: boolean;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The Megatec/Q1 UPS driver: reads F and I once, polls Q1, publishes NUT variables with every
 * poll, and runs instant commands. It never emits 'error': a failed poll is a sample with ok false.
 */
export class UpsDriver extends EventEmitter<UpsDriverEvents> {
  readonly name: string;
  private readonly port: string;
  private readonly pollIntervalMs: number;
  private readonly ignoresab: boolean;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly battery: BatteryModel;
  private readonly runtime: RuntimeEstimator;
  private readonly staticQueries: StaticQuery[];
  private offdelayS: number;
  private ondelayS: number;
  private rating: Rating | undefined;
  private identity: Identity | undefined;
  private lastPoll: PollValues | undefined;
  private last: PollSample | undefined;
  private readonly count: DriverCounters = { polls: 0, failures: 0, garbled: 0, timeouts: 0, reconnects: 0 };
  private consecutiveFailures = 0;
  private deviceLost = false;
  private running = false;
  /** Bumped by stop(), so a poll loop from before a restart cannot reschedule itself. */
  private generation = 0;
  private timer: TimerHandle | undefined;
  private inFlight: Promise<PollSample> | undefined;

  constructor(
    private readonly transport: Transport,
    options: UpsDriverOptions,
  ) {
    super();
    this.name = options.name;
    this.port = options.port ?? transport.description;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!(this.pollIntervalMs > 0) || !Number.isFinite(this.pollIntervalMs)) {
      throw new RangeError(`poll interval must be > 0 ms, got ${this.pollIntervalMs}`);
    }
    this.offdelayS = requireRange('offdelay (s)', options.offdelay ?? DEFAULT_OFFDELAY_S, SHUTDOWN_DELAY_RANGE);
    this.ondelayS = requireRange('ondelay (s)', options.ondelay ?? DEFAULT_ONDELAY_S, START_DELAY_RANGE);
    this.ignoresab = options.ignoresab ?? false;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    const { runtimeFullLoadS, learnedRuntime, ...batteryConfig } = options.battery ?? {};
    this.battery = new BatteryModel(batteryConfig, this.logger);
    this.runtime = new RuntimeEstimator({ fullLoadRuntimeS: runtimeFullLoadS, learned: learnedRuntime });
    this.staticQueries = [
      this.staticQuery('rating (F)', QUERY_RATING, parseRating, (rating) => {
        this.rating = rating;
        this.battery.setRatedNominal(rating.batteryVoltage);
      }),
      this.staticQuery('identity (I)', QUERY_IDENTITY, parseIdentity, (identity) => {
        this.identity = identity;
      }),
    ];
  }

  get counters(): Readonly<DriverCounters> {
    return { ...this.count };
  }

  /** The last sample emitted, if any. */
  get lastSample(): PollSample | undefined {
    return this.last;
  }

  /** The full-load runtime learned from discharges so far, for the daemon to persist. */
  get learnedRuntime(): LearnedRuntime | undefined {
    return this.runtime.learned;
  }

  /**
   * Opens the transport, reads F and I, and polls Q1 every poll interval; resolves after the
   * first poll. A UPS that cannot be opened yet is retried on every poll.
   */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name}: the driver is already running`);
    this.running = true;
    const generation = this.generation;
    try {
      await this.transport.open();
    } catch (err) {
      const why = errorText(err);
      this.logger.warn(`${this.name}: cannot open ${this.transport.description} (${why}); retrying on every poll`);
    }
    if (generation === this.generation) await this.pollAndReschedule(generation);
  }

  /** Stops polling, waits for a poll under way and closes the transport. No timer is left. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    try {
      await this.transport.close();
    } catch (err) {
      this.logger.warn(`${this.name}: closing ${this.transport.description}: ${errorText(err)}`);
    }
  }

  /** Polls now; a poll already under way is shared rather than overlapped. Never rejects. */
  pollOnce(): Promise<PollSample> {
    this.inFlight ??= this.poll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Runs a NUT instant command. Resolves with the wire command sent, or undefined when nothing
   * had to be sent (beeper.enable with the beeper on). Rejects with UpsCommandError.
   */
  async instcmd(name: string, value?: string): Promise<string | undefined> {
    if (!isInstcmd(name)) {
      const supported = INSTCMDS.join(', ');
      throw new UpsCommandError('unknown-command', `unknown instant command '${name}'; supported: ${supported}`);
    }
    const beeperOn = name === 'beeper.enable' || name === 'beeper.disable' ? await this.readBeeper(name) : undefined;
    const wire = instcmdWire(name, { value, offdelayS: this.offdelayS, ondelayS: this.ondelayS, beeperOn });
    if (wire === undefined) {
      this.logger.info(`${this.name}: ${name}: the beeper already is ${beeperOn ? 'enabled' : 'disabled'}`);
      return undefined;
    }
    const error = await this.sendCommand(name, wire);
    if (error) throw error;
    this.logger.info(`${this.name}: ${name}: sent ${commandText(wire)}`);
    return wire;
  }

  /**
   * Sets ups.delay.shutdown or ups.delay.start (s), rounded down as NUT does. Returns the value
   * stored. Throws UpsCommandError for other variables or values out of range.
   */
  setVariable(name: string, value: string | number): number {
    if (!isWritableVariable(name)) {
      const known = Object.hasOwn(this.variables(), name);
      if (known) throw new UpsCommandError('read-only', `${name} is read-only`);
      throw new UpsCommandError('unknown-variable', `${name} is not a variable of this UPS`);
    }
    const seconds = parseSeconds(name, value, WRITABLE_VARIABLES[name]);
    const stored = this.storeDelay(name, seconds);
    this.logger.info(`${this.name}: ${name} set to ${stored}`);
    return stored;
  }

  /**
   * What `upsdrvctl shutdown` does: `C` (cancel anything pending), then at least 1 s later
   * shutdown.return, or shutdown.stayoff with `stayoff`, each tried up to 3 times. Resolves with
   * every command written; rejects with UpsCommandError (its `sent` says what went out) when
   * the shutdown command failed every time.
   */
  async shutdownSequence(options: { stayoff?: boolean } = {}): Promise<string[]> {
    const sent: string[] = [];
    const cancelledAt = this.clock.now();
    const cancelError = await this.sendWithRetries('shutdown.stop', SHUTDOWN_CANCEL, sent);
    if (cancelError) this.logger.info(`${this.name}: no shutdown pending (${cancelError.message})`);
    await this.clock.sleep(Math.max(0, cancelledAt + SHUTDOWN_CANCEL_GAP_MS - this.clock.now()));
    const [name, wire] = options.stayoff
      ? ['shutdown.stayoff', shutdownStayOff(this.offdelayS)]
      : ['shutdown.return', shutdownReturn(this.offdelayS, this.ondelayS)];
    const error = await this.sendWithRetries(name, wire, sent);
    if (error) throw new UpsCommandError('failed', `${name} failed ${SHUTDOWN_TRIES} times: ${error.message}`, sent);
    this.logger.warn(`${this.name}: ${name} sent (${commandText(wire)}): the UPS turns off in ${this.offdelayS} s`);
    return sent;
  }

  private storeDelay(name: WritableVariable, seconds: number): number {
    if (name === 'ups.delay.shutdown') {
      this.offdelayS = roundShutdownDelay(seconds);
      return this.offdelayS;
    }
    this.ondelayS = roundStartDelay(seconds);
    return this.ondelayS;
  }

  private staticQuery<T>(
    label: string,
    command: string,
    parse: (reply: string) => ParseResult<T>,
    apply: (value: T) => void,
  ): StaticQuery {
    return {
      label,
      command,
      accept: (reply) => {
        const parsed = parse(reply);
        if (!parsed.ok) return parsed.error;
        apply(parsed.value);
        return undefined;
      },
      badReplies: 0,
      settled: false,
    };
  }

  private async pollAndReschedule(generation: number): Promise<void> {
    const startedAt = this.clock.now();
    await this.pollOnce();
    if (generation !== this.generation) return;
    // Keep the cadence from poll start to poll start; a poll that overran is followed at once.
    const wait = Math.max(0, startedAt + this.pollIntervalMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.pollAndReschedule(generation).catch((err) => {
        this.logger.error(`${this.name}: poll loop: ${errorText(err)}`);
      });
    }, wait);
  }

  private async poll(): Promise<PollSample> {
    for (const query of this.staticQueries) if (!query.settled) await this.askStatic(query);
    this.count.polls++;
    let reply: string;
    try {
      reply = await this.transport.exchange(QUERY_STATUS, { timeoutMs: REPLY_TIMEOUT_MS });
    } catch (err) {
      return this.failed(this.transportFailure(err));
    }
    const parsed = parseQ1(reply);
    if (!parsed.ok) {
      this.count.garbled++;
      return this.failed(`bad Q1 reply (${parsed.error.reason}): ${parsed.error.message}`);
    }
    return this.succeeded(parsed.value);
  }

  private async askStatic(query: StaticQuery): Promise<void> {
    let reply: string;
    try {
      reply = await this.transport.exchange(query.command, { timeoutMs: REPLY_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof TransportError && err.kind === 'timeout') {
        // Like an echo, silence means the UPS does not know the command.
        query.settled = true;
        this.logger.info(`${this.name}: no reply to ${query.label}; going on without it`);
      } else {
        // The UPS was not asked at all: ask again next poll.
        this.noteLostDevice(err);
      }
      return;
    }
    const error = query.accept(reply);
    if (!error) {
      query.settled = true;
    } else if (error.reason === 'echo') {
      query.settled = true;
      this.logger.info(`${this.name}: the UPS does not support ${query.label}: it echoed the command`);
    } else if (++query.badReplies >= STATIC_QUERY_TRIES) {
      query.settled = true;
      const count = `${query.badReplies} bad replies to ${query.label}`;
      this.logger.warn(`${this.name}: ${count} (${error.message}); going on without it`);
    }
  }

  private noteLostDevice(err: unknown): void {
    if (err instanceof TransportError && err.kind === 'disconnected') this.deviceLost = true;
  }

  private transportFailure(err: unknown): string {
    if (!(err instanceof TransportError)) return `transport failure: ${errorText(err)}`;
    if (err.kind === 'timeout') {
      this.count.timeouts++;
      return err.partial ? `timeout after a partial reply ${JSON.stringify(err.partial)}` : 'timeout: no reply to Q1';
    }
    this.noteLostDevice(err);
    return `${err.kind}: ${err.message}`;
  }

  private succeeded(reading: Q1Reading): PollSample {
    const time = this.clock.now();
    const status = deriveStatus(reading, { ignoresab: this.ignoresab });
    const battery = reading.batteryVoltage === undefined ? undefined : this.battery.read(reading.batteryVoltage);
    let runtimeS: number | undefined;
    if (battery?.level !== undefined && battery.charge !== undefined && reading.loadPercent !== undefined) {
      const { estimate, learned } = this.runtime.update({
        time,
        onBattery: reading.bits.utilityFail,
        level: battery.level,
        charge: battery.charge,
        loadPercent: reading.loadPercent,
      });
      runtimeS = estimate.seconds;
      if (learned) this.guarded('learned', () => this.emit('learned', learned));
    }
    this.lastPoll = { reading, status, battery, runtimeS };
    if (this.consecutiveFailures >= STALE_AFTER_FAILURES) this.logger.info(`${this.name}: communication restored`);
    this.consecutiveFailures = 0;
    if (this.deviceLost) {
      this.deviceLost = false;
      this.count.reconnects++;
    }
    return this.publish({ time, ok: true, status: status.status, stale: false, variables: this.variables() });
  }

  private failed(error: string): PollSample {
    this.count.failures++;
    this.consecutiveFailures++;
    const stale = this.consecutiveFailures >= STALE_AFTER_FAILURES;
    if (this.consecutiveFailures === 1) {
      this.logger.warn(`${this.name}: poll failed: ${error}`);
    } else if (this.consecutiveFailures === STALE_AFTER_FAILURES) {
      this.logger.warn(`${this.name}: data stale after ${STALE_AFTER_FAILURES} failed polls: ${error}`);
    } else {
      this.logger.debug(`${this.name}: poll failed: ${error}`);
    }
    return this.publish({
      time: this.clock.now(),
      ok: false,
      // A failed poll keeps the last good status: losing contact is never an outage.
      status: this.lastPoll?.status.status ?? '',
      stale,
      variables: this.variables(),
      error,
    });
  }

  private variables(): Record<string, string> {
    return nutVariables({
      driver: { port: this.port, pollIntervalMs: this.pollIntervalMs, ignoresab: this.ignoresab },
      delays: { shutdownS: this.offdelayS, startS: this.ondelayS },
      rating: this.rating,
      identity: this.identity,
      battery: this.battery.thresholds,
      poll: this.lastPoll,
    });
  }

  private publish(sample: PollSample): PollSample {
    this.last = sample;
    this.guarded('poll', () => this.emit('poll', sample));
    return sample;
  }

  /** Runs an emit; a listener's exception must not stop the poll loop. */
  private guarded(event: keyof UpsDriverEvents, emit: () => void): void {
    try {
      emit();
    } catch (err) {
      this.logger.error(`${this.name}: a '${event}' listener failed: ${errorText(err)}`);
    }
  }

  private async readBeeper(name: string): Promise<boolean> {
    const sample = await this.pollOnce();
    if (!sample.ok || !this.lastPoll) {
      throw new UpsCommandError('failed', `${name}: cannot read the beeper state (${sample.error})`);
    }
    return this.lastPoll.reading.bits.beeperOn;
  }

  /**
   * Sends a command that has no data reply; resolves with why it failed, if it did. No reply in
   * time is success: Megatec UPSes stay silent.
   */
  private async sendCommand(label: string, wire: string): Promise<UpsCommandError | undefined> {
    let reply: string;
    try {
      reply = await this.transport.exchange(wire, { timeoutMs: REPLY_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof TransportError && err.kind === 'timeout') return undefined;
      return new UpsCommandError('failed', `${label}: ${commandText(wire)} not delivered: ${errorText(err)}`);
    }
    const refusal = checkCommandReply(reply, wire);
    return refusal ? new UpsCommandError('failed', `${label}: ${refusal.message}`) : undefined;
  }

  /** Returns the last error when every try failed, undefined on success. */
  private async sendWithRetries(label: string, wire: string, sent: string[]): Promise<UpsCommandError | undefined> {
    let error: UpsCommandError | undefined;
    for (let attempt = 1; attempt <= SHUTDOWN_TRIES; attempt++) {
      sent.push(wire);
      error = await this.sendCommand(label, wire);
      if (!error) return undefined;
      this.logger.warn(`${this.name}: ${error.message} (try ${attempt} of ${SHUTDOWN_TRIES})`);
    }
    return error;
  }
}
