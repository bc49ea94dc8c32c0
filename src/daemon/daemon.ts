import { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { Executor } from '../executor/executor.js';
import { Journal, outageOpen } from '../executor/journal.js';
import { waitForStablePower } from '../executor/recovery.js';
import type { HostActions } from '../host/host.js';
import { Monitor } from '../monitor/monitor.js';
import { MonitorRunner, type MonitorUpdate } from '../monitor/runner.js';
import type { UpsEvent } from '../monitor/types.js';
import type { PvepowerConfig } from '../policy/schema.js';
import { StageTriggerTracker } from '../policy/triggers.js';
import type { Plan } from '../policy/types.js';
import type { CephFlag, PveApi } from '../pve/types.js';
import { parseLearnedRuntime, type LearnedRuntime } from '../ups/battery-runtime.js';
import { UpsDriver } from '../ups/driver.js';
import type { Transport } from '../ups/transport/transport.js';
import { planFor, readCluster, supportsDisarmHa } from './cluster-plan.js';
import { driverOptions } from './ups.js';
import { followExecutor, type TimelineEntry } from './timeline.js';

export interface DaemonOptions {
  config: PvepowerConfig;
  transport: Transport;
  pve: PveApi;
  host: HostActions;
  logger: Logger;
  clock?: Clock;
  /** Guest status poll of the executor (default 2 s); drills on scaled time use less. */
  pollMs?: number;
}

export interface DaemonEvents {
  /** NUT notifications (ONBATT, LOWBATT, …, SHUTDOWN). */
  event: [UpsEvent];
  /** Progress of stages, guests, hosts and recovery in plain words. */
  timeline: [TimelineEntry];
  /** The daemon finished something the caller may wait for (drills and tests). */
  idle: [{ reason: 'recovered' | 'host-shutdown' }];
}

/** How often the learned battery runtime is saved at most (it is refit on every poll on battery). */
const LEARNED_SAVE_INTERVAL_MS = 60_000;

/** buildPlan's "rule matches nothing" hints (src/policy/plan.ts ruleWarnings). */
const RULE_MATCH_WARNING = /^guests\[\d+\] (matches no running guest|takes no guest)/;

/**
 * pvepower's daemon: UPS driver → monitor (NUT events) → stage triggers → plan from the live
 * cluster → executor; on power return, abort what can be aborted and recover once mains is
 * stable. The executor's journal makes a restart resume the outage where it stopped.
 */
export class Daemon extends EventEmitter<DaemonEvents> {
  readonly driver: UpsDriver;
  readonly monitor: Monitor;
  readonly executor: Executor;
  readonly journal: Journal;
  private config: PvepowerConfig;
  private tracker: StageTriggerTracker;
  private readonly runner: MonitorRunner;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private recheck: TimerHandle | undefined;
  private recovery: AbortController | undefined;
  private resumeChecked = false;
  private learnedSavedAt = -Infinity;
  private readonly unfollow: () => void;
  private readonly running = new Set<Promise<unknown>>();
  /** Plan warnings already shown (each plan is rebuilt per stage; say things once). */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: DaemonOptions) {
    super();
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    const { ups } = this.config;
    mkdirSync(this.config.state_dir, { recursive: true });
    this.driver = new UpsDriver(
      opts.transport,
      driverOptions(ups, { clock: this.clock, logger: this.logger, ...this.loadLearnedRuntime() }),
    );
    this.monitor = new Monitor({ ups: ups.name, deadtimeMs: ups.deadtime });
    this.runner = new MonitorRunner({ source: this.driver, monitor: this.monitor, clock: this.clock });
    this.tracker = this.makeTracker();
    this.journal = Journal.open({ dir: this.config.state_dir, clock: this.clock, logger: this.logger });
    this.executor = new Executor({
      pve: opts.pve,
      host: opts.host,
      journal: this.journal,
      clock: this.clock,
      logger: this.logger,
      // Resolved from the live cluster when a stage starts (local node, auto modes): configureExecutor.
      self: this.config.proxmox.self ?? '',
      perNodeLimit: this.config.hosts.per_node_limit,
      ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
      haMode: 'stop-states',
      haResourceMode: this.config.ha.resource_mode,
      ceph: { enabled: false, flags: [...this.config.ceph.flags] as CephFlag[] },
      nodeShutdown: this.config.hosts.node_shutdown.enabled,
      killpower: this.config.killpower.enabled,
    });
    this.unfollow = followExecutor(this.executor, () => this.clock.now(), (e) => this.timeline(e));
    this.executor.on('killpower', () => this.emitUpsEvent(this.monitor.shutdownEvent(this.clock.now())));
    this.executor.on('host-shutdown', () => this.emit('idle', { reason: 'host-shutdown' }));
    this.runner.on('event', (e) => this.onUpsEvent(e));
    this.runner.on('update', (u) => this.onUpdate(u));
    this.driver.on('learned', (l) => this.saveLearnedRuntime(l));
  }

  get currentConfig(): PvepowerConfig {
    return this.config;
  }

  async start(): Promise<void> {
    if (this.config.killpower.enabled && (await this.opts.host.removeStaleKillpowerFlag())) {
      this.logger.info('removed the killpower flag left by the last power-fail shutdown');
    }
    this.runner.start();
    await this.driver.start();
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.recheck);
    this.recovery?.abort(new Error('daemon stopping'));
    this.runner.stop();
    await this.driver.stop();
    // Stages keep running until the process exits; a restart resumes them from the journal.
    this.unfollow();
  }

  /** Applies a new config's policy (stages, guests, hosts, recovery); UPS and API changes need a restart. */
  reload(config: PvepowerConfig): string[] {
    const notes: string[] = [];
    for (const section of ['ups', 'proxmox', 'state_dir'] as const) {
      if (JSON.stringify(config[section]) !== JSON.stringify(this.config[section])) {
        notes.push(`${section} changed: takes effect when pvepower restarts`);
      }
    }
    const fired = this.tracker.firedStages();
    this.config = { ...config, ups: this.config.ups, proxmox: this.config.proxmox, state_dir: this.config.state_dir };
    this.tracker = this.makeTracker();
    // A stage that already fired this outage stays fired under the new config.
    for (const stage of fired) if (this.config.stages[stage]) this.tracker.fireManually(stage, this.clock.now());
    return notes;
  }

  /** `pvepower trigger STAGE`: fires a stage now, whatever its trigger says. */
  trigger(stage: string): { ok: boolean; message: string } {
    if (!this.config.stages[stage]) {
      return { ok: false, message: `no stage '${stage}' (stages: ${Object.keys(this.config.stages).join(', ')})` };
    }
    if (!this.tracker.fireManually(stage, this.clock.now())) return { ok: false, message: `stage ${stage} already fired` };
    this.timeline({ time: this.clock.now(), kind: 'stage', text: `stage ${stage} triggered by hand` });
    this.launch(stage);
    return { ok: true, message: `stage ${stage} triggered` };
  }

  /** A snapshot for `pvepower status`-like queries over the control socket. */
  snapshot(): Record<string, unknown> {
    const now = this.clock.now();
    const { state, variables } = this.runner.current();
    return {
      ups: this.config.ups.name,
      status: state.lastStatus,
      onBattery: state.onBattery,
      critical: state.critical,
      charge: variables['battery.charge'],
      runtime: variables['battery.runtime'],
      fired: this.tracker.firedStages(),
      countdowns: this.tracker.countdowns(now).map((c) => c.text),
      outageOpen: outageOpen(this.journal.state),
      pointOfNoReturn: this.executor.pointOfNoReturn,
    };
  }

  /** Resolves when every stage and recovery started so far has settled (drills and tests). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private makeTracker(): StageTriggerTracker {
    return new StageTriggerTracker(Object.entries(this.config.stages).map(([name, s]) => ({ name, trigger: s.when })));
  }

  private onUpsEvent(e: UpsEvent): void {
    this.emitUpsEvent(e);
    if (e.event === 'ONLINE') this.onPowerReturn();
    if (e.event === 'ONBATT') this.recovery?.abort(new Error('power failed again'));
  }

  private emitUpsEvent(e: UpsEvent): void {
    this.emit('event', e);
    this.timeline({ time: e.time, kind: 'ups', text: `${e.event}: ${e.message}` });
  }

  private onUpdate(u: MonitorUpdate): void {
    if (!this.resumeChecked && u.state.lastStatus !== '') {
      this.resumeChecked = true;
      this.track(this.resumeOutage(u));
    }
    for (const stage of this.tracker.update({ state: u.state, variables: u.variables, now: u.time })) this.launch(stage);
    this.clock.clearTimeout(this.recheck);
    const at = this.tracker.nextCheckAt(u.time);
    // on_battery_for countdowns expire between polls: look again exactly then.
    if (at !== undefined) this.recheck = this.clock.setTimeout(() => this.onUpdate(this.runner.current()), Math.max(0, at - this.clock.now()));
  }

  /** A journal with an open outage at start-up: continue it on battery, recover it on line. */
  private async resumeOutage(u: MonitorUpdate): Promise<void> {
    if (!outageOpen(this.journal.state)) return;
    if (u.state.onBattery) {
      const plan = await this.currentPlan();
      const result = await this.executor.resume(plan);
      this.logger.info('outage journal found at start-up', { resume: result.status });
      if (result.status === 'recovery-pending') this.scheduleRecovery();
    } else {
      this.scheduleRecovery();
    }
  }

  private launch(stageName: string): void {
    this.track(
      (async () => {
        const plan = await this.currentPlan();
        const stage = plan.stages.find((s) => s.name === stageName);
        if (!stage) return;
        await this.executor.runStage(stage, plan);
      })().catch((err: unknown) => {
        // The plan could not even be made (API down): say so loudly; the next trigger retries.
        this.logger.error(`stage ${stageName} could not run`, { error: errorText(err) });
        this.tracker.reset(stageName);
        this.timeline({ time: this.clock.now(), kind: 'warning', text: `stage ${stageName} could not run: ${errorText(err)}` });
      }),
    );
  }

  /** A plan from the live cluster and the UPS's present runtime estimate. */
  private async currentPlan(): Promise<Plan> {
    const cluster = await readCluster(this.opts.pve, this.config, this.logger);
    await this.configureExecutor(cluster.self, cluster.pveVersion);
    const runtimeS = Number(this.runner.current().variables['battery.runtime']);
    const plan = planFor(this.config, cluster, Number.isFinite(runtimeS) ? runtimeS * 1000 : undefined);
    const midOutage = outageOpen(this.journal.state);
    for (const w of plan.warnings) {
      // Once a stage has stopped guests, rules for them match nothing running: not worth a warning.
      if (midOutage && RULE_MATCH_WARNING.test(w)) continue;
      if (this.warned.has(w)) continue;
      this.warned.add(w);
      this.timeline({ time: this.clock.now(), kind: 'warning', text: w });
    }
    return plan;
  }

  /** Resolves the config's `auto` choices (HA mode, Ceph) against the live cluster. */
  private async configureExecutor(self: string, pveVersion: string | undefined): Promise<void> {
    const { ha, ceph } = this.config;
    this.executor.configureCluster({
      self,
      haMode: ha.mode === 'auto' ? (supportsDisarmHa(pveVersion) ? 'disarm' : 'stop-states') : ha.mode,
      ceph: { enabled: ceph.enabled === 'auto' ? await this.cephPresent() : ceph.enabled, flags: [...ceph.flags] as CephFlag[] },
    });
  }

  private async cephPresent(): Promise<boolean> {
    try {
      await this.opts.pve.cephFlags();
      return true;
    } catch {
      return false;
    }
  }

  private onPowerReturn(): void {
    this.tracker.resetAll();
    if (!outageOpen(this.journal.state)) return;
    if (!this.executor.abort('mains returned')) {
      this.timeline({ time: this.clock.now(), kind: 'warning', text: 'mains returned after the point of no return: the hosts go down' });
      return;
    }
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    const { recovery } = this.config;
    if (!recovery.enabled || this.recovery) return;
    const controller = new AbortController();
    this.recovery = controller;
    this.timeline({
      time: this.clock.now(),
      kind: 'recovery',
      text: `waiting for ${recovery.delay / 1000}s of stable mains and ${recovery.min_charge}% charge`,
    });
    this.track(
      (async () => {
        await this.settled();
        await waitForStablePower(
          { stableForMs: recovery.delay, minCharge: recovery.min_charge, pollMs: Math.min(1000, this.config.ups.pollinterval) },
          () => {
            const { state, variables } = this.runner.current();
            const charge = Number(variables['battery.charge']);
            return { online: state.online, ...(Number.isFinite(charge) ? { charge } : {}) };
          },
          { clock: this.clock, logger: this.logger, signal: controller.signal },
        );
        const result = await this.executor.recover({ signal: controller.signal });
        if (result.recovered) {
          this.warned.clear();
          this.emit('idle', { reason: 'recovered' });
        }
      })()
        .catch((err: unknown) => {
          if (!controller.signal.aborted) this.logger.error('recovery failed', { error: errorText(err) });
        })
        .finally(() => {
          if (this.recovery === controller) this.recovery = undefined;
        }),
    );
  }

  private track(p: Promise<unknown>): void {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private timeline(e: TimelineEntry): void {
    this.emit('timeline', e);
    const level = e.kind === 'warning' ? 'warn' : 'info';
    this.logger.log(level, e.text, { kind: e.kind });
  }

  private learnedPath(): string {
    return join(this.config.state_dir, 'battery.json');
  }

  private loadLearnedRuntime(): { learnedRuntime?: LearnedRuntime } {
    try {
      const learned = parseLearnedRuntime(JSON.parse(readFileSync(this.learnedPath(), 'utf8')));
      return learned ? { learnedRuntime: learned } : {};
    } catch {
      return {};
    }
  }

  private saveLearnedRuntime(learned: LearnedRuntime): void {
    const now = this.clock.now();
    if (now - this.learnedSavedAt < LEARNED_SAVE_INTERVAL_MS) return;
    this.learnedSavedAt = now;
    try {
      const tmp = this.learnedPath() + '.tmp';
      writeFileSync(tmp, JSON.stringify(learned) + '\n');
      renameSync(tmp, this.learnedPath());
    } catch (err) {
      this.logger.warn('cannot save the learned battery runtime', { error: errorText(err) });
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
