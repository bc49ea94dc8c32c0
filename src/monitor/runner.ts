import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { PollSample } from '../ups/types.js';
import type { Monitor, MonitorState } from './monitor.js';
import type { UpsEvent } from './types.js';

/** Anything that emits `'poll'` with a PollSample: the UPS driver, the NUT client, a test double. */
export interface PollSource {
  on(event: 'poll', listener: (sample: PollSample) => void): unknown;
  off(event: 'poll', listener: (sample: PollSample) => void): unknown;
}

/** What stage triggers need after every change: the monitor state and the last good readings. */
export interface MonitorUpdate {
  time: number;
  state: MonitorState;
  /** Variables of the last successful poll ({} before any). */
  variables: Readonly<Record<string, string>>;
}

export interface MonitorRunnerOptions {
  source: PollSource;
  monitor: Monitor;
  clock: Clock;
  /** How often the time-only rules run. */
  tickMs?: number;
}

type RunnerEvents = {
  /** A NUT notification. */
  event: [UpsEvent];
  /** After every poll, and after a tick that changed the state (DEADTIME, COMMBAD on silence…). */
  update: [MonitorUpdate];
};

/** Feeds a source's polls and a clock's ticks into a Monitor and re-emits what comes out. */
export class MonitorRunner extends EventEmitter<RunnerEvents> {
  readonly monitor: Monitor;
  private readonly source: PollSource;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private timer: TimerHandle | undefined;
  private running = false;
  private variables: Readonly<Record<string, string>> = {};
  /** The state last sent in an update; a tick publishes when the monitor's differs. */
  private published: MonitorState | undefined;
  private readonly onPoll = (sample: PollSample) => this.handlePoll(sample);

  constructor(options: MonitorRunnerOptions) {
    super();
    const tickMs = options.tickMs ?? 1000;
    if (!Number.isFinite(tickMs) || tickMs <= 0) throw new RangeError(`tickMs must be > 0, got ${tickMs}`);
    this.source = options.source;
    this.monitor = options.monitor;
    this.clock = options.clock;
    this.tickMs = tickMs;
  }

  /** The latest state with the last good readings, for evaluating triggers between updates. */
  current(): MonitorUpdate {
    return { time: this.clock.now(), state: this.monitor.state, variables: this.variables };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.source.on('poll', this.onPoll);
    this.schedule();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.source.off('poll', this.onPoll);
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => this.handleTick(), this.tickMs);
  }

  private handlePoll(sample: PollSample): void {
    const events = this.monitor.observe(sample);
    if (sample.ok && !sample.stale) this.variables = sample.variables;
    this.publish(sample.time, events, true);
  }

  private handleTick(): void {
    // Re-arm first so a throwing listener cannot stop the time rules.
    this.schedule();
    const now = this.clock.now();
    const events = this.monitor.tick(now);
    // Compared with what was last published, not with the state before this tick, so an update
    // lost to a throwing listener goes out on the next tick.
    this.publish(now, events, this.monitor.state !== this.published);
  }

  private publish(time: number, events: UpsEvent[], update: boolean): void {
    for (const e of events) this.emit('event', e);
    if (!update) return;
    this.published = this.monitor.state;
    this.emit('update', { time, state: this.published, variables: this.variables });
  }
}
