import { createHash } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../host/host.js';
import type { HostActions } from '../host/host.js';
import type { Plan, PlanGroup, PlannedGuest, PlanStage } from '../policy/types.js';
import type { CephFlag, GuestRef, GuestStatus, PveApi } from '../pve/types.js';
import type { ExecContext, RetryPolicy } from './context.js';
import { call, DEFAULT_RETRY, guestInfo, haSid, label, mayHaveReachedServer, NodeSlots, refOf, waitForStatus } from './context.js';
import type { ExecutorEvents, GuestResult, HostsResult, RecoveryResult, ResumeResult, StageResult } from './events.js';
import type { GuestState, Journal, SentAction } from './journal.js';
import { outageOpen } from './journal.js';
import { recover } from './recovery.js';

export interface ExecutorOptions {
  pve: PveApi;
  host: HostActions;
  journal: Journal;
  clock: Clock;
  logger: Logger;
  /** This node's name: it is shut down last, by the host command, not through the API. */
  self: string;
  /** Guest actions in flight per node (Proxmox's stopall uses up to 8 workers). */
  perNodeLimit?: number;
  /** Guest status poll interval. */
  pollMs?: number;
  /** After a hard stop (escalation), how long until the guest counts as unresolved. */
  escalationGraceMs?: number;
  /** `disarm` (PVE >= 9.2): release HA watchdogs before the node shutdowns; `stop-states`: not available. */
  haMode: 'disarm' | 'stop-states';
  /** What disarm-ha does with HA resources (default freeze: they keep their state). */
  haResourceMode?: 'freeze' | 'ignore';
  ceph: { enabled: boolean; flags: CephFlag[] };
  /** Shut the other nodes down in the final stage (false: only this host goes down). */
  nodeShutdown: boolean;
  /** Write the killpower flag before the host shutdown (default true). */
  killpower?: boolean;
  retry?: RetryPolicy;
  /** Pause between node shutdown requests, so plan order (Ceph MONs last) holds. */
  nodeStaggerMs?: number;
  /** Tries and pause for the host shutdown command. */
  hostShutdownAttempts?: number;
  hostShutdownRetryMs?: number;
  /** Recovery: how long a started guest may take to show as running before the next group. */
  startTimeoutMs?: number;
  /** Recovery: how long to wait for cluster quorum before starting guests anyway. */
  quorumWaitMs?: number;
}

/** A short, stable id of what a plan would do (stages, guests, actions, hosts). */
export function planId(plan: Plan): string {
  const shape = {
    self: plan.self,
    hosts: plan.hosts.map((h) => h.node),
    stages: plan.stages.map((s) => ({
      name: s.name,
      final: s.final,
      groups: s.groups.map((g) => ({
        group: g.group,
        guests: g.guests.map((p) => [p.node, p.type, p.vmid, p.action, p.timeoutMs, p.escalation, p.restartOnPowerReturn]),
      })),
    })),
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}

/**
 * Runs a plan against the cluster. Guests of a group stop in parallel (per-node limit), the next
 * group starts once each guest of the group is confirmed stopped by its status (or given up on),
 * the final stage then sets Ceph flags, disarms HA, shuts the other nodes down, writes the
 * killpower flag and runs the host shutdown command. Every step is journaled before and after.
 */
export class Executor extends EventEmitter<ExecutorEvents> {
  private readonly ctx: ExecContext;
  private readonly escalationGraceMs: number;
  private controller: AbortController | undefined;
  private readonly active = new Map<string, Promise<StageResult>>();

  constructor(private readonly opts: ExecutorOptions) {
    super();
    this.ctx = {
      pve: opts.pve,
      host: opts.host,
      journal: opts.journal,
      clock: opts.clock,
      logger: opts.logger,
      events: this,
      slots: new NodeSlots(opts.perNodeLimit ?? 4),
      pollMs: opts.pollMs ?? 2000,
      retry: opts.retry ?? DEFAULT_RETRY,
    };
    this.escalationGraceMs = opts.escalationGraceMs ?? 30_000;
  }

  /** This node and what the live cluster supports (HA disarm, Ceph), resolved by the daemon before a stage runs. */
  configureCluster(features: Pick<ExecutorOptions, 'self' | 'haMode' | 'ceph'>): void {
    this.opts.self = features.self;
    this.opts.haMode = features.haMode;
    this.opts.ceph = features.ceph;
  }

  get pointOfNoReturn(): boolean {
    return this.opts.journal.state.pointOfNoReturn;
  }

  /**
   * Stops the running stages (mains returned): guests not yet sent an action are not sent one,
   * guests already shutting down are left to finish (a guest shutdown cannot be withdrawn) and
   * are not escalated. Refused (false) once the point of no return passed.
   */
  abort(reason = 'aborted'): boolean {
    if (this.pointOfNoReturn) {
      this.opts.logger.warn('abort refused: node shutdowns were already sent', { reason });
      return false;
    }
    if (this.controller) {
      this.opts.logger.warn('aborting the running stages', { reason, stages: [...this.active.keys()] });
      this.controller.abort(new Error(`aborted: ${reason}`));
      this.controller = undefined;
    }
    return true;
  }

  /** Runs one stage; a stage already running returns its promise, one finished this outage is skipped. */
  runStage(stage: PlanStage, plan: Plan, opts: { signal?: AbortSignal } = {}): Promise<StageResult> {
    const running = this.active.get(stage.name);
    if (running) return running;
    const run = this.stageRun(stage, plan, opts.signal).finally(() => this.active.delete(stage.name));
    this.active.set(stage.name, run);
    return run;
  }

  /**
   * Continues an outage the journal shows as interrupted (daemon crash or restart while on
   * battery): stages that were running are run again, which skips their completed groups, sends
   * no second action to a guest whose intent is recorded (it polls and escalates instead) and no
   * second shutdown to a node. If the host shutdown already ran in an earlier boot, nothing is
   * repeated: the outage waits for recovery.
   */
  async resume(plan: Plan, opts: { signal?: AbortSignal } = {}): Promise<ResumeResult> {
    const state = this.opts.journal.state;
    if (!outageOpen(state)) return { status: 'no-outage', stages: [] };
    if (state.recovery || (state.hostShutdown && !(await this.sameBoot(state.hostShutdown.bootId)))) {
      return { status: 'recovery-pending', stages: [] };
    }
    const stages = plan.stages.filter((s) => state.stages.get(s.name)?.status === 'running');
    const finalStage = plan.stages.find((s) => s.final);
    // Past the point of no return the host sequence must complete even if the config changed.
    if (state.pointOfNoReturn && finalStage && !stages.includes(finalStage)) stages.push(finalStage);
    if (stages.length === 0) return { status: 'idle', stages: [] };
    this.opts.logger.warn('resuming an interrupted outage', { stages: stages.map((s) => s.name) });
    const results: StageResult[] = [];
    for (const stage of stages.sort((a, b) => Number(a.final) - Number(b.final))) {
      results.push(await this.runStage(stage, plan, opts));
    }
    return { status: 'resumed', stages: results };
  }

  /**
   * Power-return recovery from the journal (see recovery.ts). The caller aborts the running
   * stages first and waits for stable mains (waitForStablePower).
   */
  recover(opts: { signal?: AbortSignal } = {}): Promise<RecoveryResult> {
    return recover(this.ctx, {
      signal: opts.signal,
      startTimeoutMs: this.opts.startTimeoutMs ?? 120_000,
      quorumWaitMs: this.opts.quorumWaitMs ?? 600_000,
    });
  }

  private async stageRun(stage: PlanStage, plan: Plan, external?: AbortSignal): Promise<StageResult> {
    const journal = this.opts.journal;
    this.beginOutage(plan);
    const down = journal.state.hostShutdown;
    if (down && !(await this.sameBoot(down.bootId))) {
      // Power failed again after the hosts went down and came back: the guests Proxmox started
      // at boot must be stopped again, so the stages run afresh.
      journal.append({ op: 'round', phase: 'info', reason: 'the host rebooted since its power-fail shutdown' });
    }
    const prior = journal.state.stages.get(stage.name);
    const result: StageResult = { stage: stage.name, final: stage.final, aborted: false, skipped: false, guests: [] };
    if (prior?.status === 'done') {
      this.opts.logger.info(`stage ${stage.name} already finished in this outage`);
      return { ...result, skipped: true };
    }
    this.controller ??= new AbortController();
    const signal = external ? AbortSignal.any([this.controller.signal, external]) : this.controller.signal;
    // Every guest in flight waits on this signal: hundreds of listeners are expected, not a leak.
    setMaxListeners(0, this.controller.signal, signal);

    journal.append({ op: 'stage', phase: 'intent', stage: stage.name, final: stage.final });
    this.emit('stage-start', { stage: stage.name, final: stage.final, resumed: prior !== undefined });
    this.opts.logger.warn(`stage ${stage.name} started`, { groups: stage.groups.length, final: stage.final });
    if (stage.final) {
      await this.opts.host.notify(`pvepower: power failure, stage ${stage.name}: stopping guests, then the cluster's hosts`);
    }

    for (const group of [...stage.groups].sort((a, b) => a.group - b.group)) {
      if (signal.aborted) break;
      if (journal.state.stages.get(stage.name)?.groupsDone.has(group.group)) continue;
      const results = await this.runGroup(stage, group, signal);
      result.guests.push(...results);
      if (signal.aborted) break;
      journal.append({ op: 'group', phase: 'done', stage: stage.name, group: group.group });
      this.emit('group-done', { stage: stage.name, group: group.group, ...(group.label ? { label: group.label } : {}), results });
    }

    if (stage.final && !signal.aborted) {
      // Shed stages still finishing must not have their guests' nodes shut down under them.
      await Promise.allSettled([...this.active].filter(([name]) => name !== stage.name).map(([, run]) => run));
      result.hosts = await this.shutdownHosts(plan, signal);
    }
    if (!result.hosts && signal.aborted) {
      const reason = errorMessage(signal.reason);
      journal.append({ op: 'stage', phase: 'failed', stage: stage.name, final: stage.final, error: reason });
      this.opts.logger.warn(`stage ${stage.name} aborted`, { reason });
      result.aborted = true;
    } else {
      journal.append({ op: 'stage', phase: 'done', stage: stage.name, final: stage.final });
      this.opts.logger.warn(`stage ${stage.name} finished`);
    }
    this.emit('stage-done', result);
    return result;
  }

  private beginOutage(plan: Plan): void {
    const journal = this.opts.journal;
    const id = planId(plan);
    if (plan.self !== this.opts.self) {
      this.opts.logger.warn('the plan was made for another node', { planSelf: plan.self, self: this.opts.self });
    }
    if (journal.state.planId === undefined) {
      journal.append({ op: 'outage', phase: 'info', planId: id, self: this.opts.self });
    } else if (journal.state.planId !== id) {
      // Each stage plans from the live cluster, so guests stopped earlier drop out: expected.
      this.opts.logger.info('plan rebuilt during the outage; the journal matches guests by VMID', { was: journal.state.planId, now: id });
      journal.append({ op: 'plan', phase: 'info', planId: id });
    }
  }

  private async runGroup(stage: PlanStage, group: PlanGroup, signal: AbortSignal): Promise<GuestResult[]> {
    this.opts.journal.append({ op: 'group', phase: 'intent', stage: stage.name, group: group.group });
    this.emit('group-start', { stage: stage.name, group: group.group, ...(group.label ? { label: group.label } : {}), guests: group.guests.length });
    let haStates: Promise<Map<string, string>> | undefined;
    const haState = async (sid: string) => (await (haStates ??= this.readHaStates(signal))).get(sid);
    return Promise.all(group.guests.map((g) => this.runGuest(stage, group.group, g, haState, signal)));
  }

  private async readHaStates(signal: AbortSignal): Promise<Map<string, string>> {
    try {
      const resources = await call(this.ctx, 'reading HA resources', () => this.opts.pve.haResources(), signal);
      return new Map(resources.map((r) => [r.sid, r.state]));
    } catch (err) {
      if (signal.aborted) throw err;
      this.warn(`HA resources unreadable (${errorMessage(err)}); HA guests will be restored to 'started'`);
      return new Map();
    }
  }

  private async runGuest(
    stage: PlanStage,
    group: number,
    pg: PlannedGuest,
    haState: (sid: string) => Promise<string | undefined>,
    signal: AbortSignal,
  ): Promise<GuestResult> {
    const guest = guestInfo(pg);
    if (pg.action === 'skip') {
      this.emit('guest-skipped', { stage: stage.name, guest, reason: `rule ${pg.rule} says skip` });
      return { guest, outcome: 'skipped' };
    }
    const { guests, round } = this.opts.journal.state;
    const known = guests.get(pg.vmid);
    // Only this round's record counts: since an earlier round the guest may have been started
    // again (by recovery, or by Proxmox when the hosts booted).
    const record = known?.round === round ? known : undefined;
    if (record?.stopped) return { guest, outcome: 'stopped' };
    if (record?.left) return { guest, outcome: 'left' };
    if (record?.unresolved !== undefined) return { guest, outcome: 'unresolved', error: record.unresolved };

    let release: (() => void) | undefined;
    try {
      release = await this.ctx.slots.acquire(pg.node, signal);
      return await this.driveGuest(stage, group, pg, record, haState, signal);
    } catch (err) {
      if (signal.aborted) return { guest, outcome: 'aborted' };
      // Not reachable through Proxmox failures (those are handled in driveGuest); a bug must not stall the plan.
      return this.unresolved(stage, pg, `internal error: ${errorMessage(err)}`);
    } finally {
      release?.();
    }
  }

  private async driveGuest(
    stage: PlanStage,
    group: number,
    pg: PlannedGuest,
    record: GuestState | undefined,
    haState: (sid: string) => Promise<string | undefined>,
    signal: AbortSignal,
  ): Promise<GuestResult> {
    const journal = this.opts.journal;
    const guest = guestInfo(pg);
    if (record) {
      this.opts.logger.info(`${label(pg)}: ${record.action} already requested, checking its status`);
    } else {
      const sent = await this.request(stage, group, pg, haState, signal);
      if (sent === 'not-running') return { guest, outcome: 'not-running' };
    }
    const rec = journal.state.guests.get(pg.vmid)!;
    const ref = refOf(rec);

    if (!rec.escalation) {
      // A failed request goes straight to escalation; a hard stop has nothing to escalate to.
      const until = rec.action === 'stop' ? rec.deadline + this.escalationGraceMs : rec.deadline;
      if (rec.sendError === undefined && (await waitForStatus(this.ctx, ref, 'stopped', until, signal))) {
        return this.confirmStopped(stage, pg, rec);
      }
      if (rec.action === 'stop') return this.unresolved(stage, pg, rec.sendError ?? 'still running after stop');
      if (pg.escalation === 'leave') {
        journal.append({ op: 'guest-leave', phase: 'info', vmid: pg.vmid });
        this.emit('guest-escalated', { stage: stage.name, guest, how: 'leave' });
        this.opts.logger.warn(`${label(pg)} still running after its timeout; escalation 'leave': moving on`);
        return { guest, outcome: 'left', error: rec.sendError };
      }
      signal.throwIfAborted();
      await this.escalate(stage, pg, rec, signal);
    }
    if (await waitForStatus(this.ctx, ref, 'stopped', rec.escalation!.until, signal)) return this.confirmStopped(stage, pg, rec);
    return this.unresolved(stage, pg, rec.escalation!.error ?? 'still running after a hard stop');
  }

  /** Journals the intent, sends the guest's action and journals the outcome. */
  private async request(
    stage: PlanStage,
    group: number,
    pg: PlannedGuest,
    haState: (sid: string) => Promise<string | undefined>,
    signal: AbortSignal,
  ): Promise<'sent' | 'failed' | 'not-running'> {
    const { pve, journal, clock } = this.ctx;
    const guest = guestInfo(pg);
    let status: GuestStatus | undefined;
    try {
      status = await call(this.ctx, `status of ${label(pg)}`, () => pve.guestStatus(pg), signal);
    } catch (err) {
      signal.throwIfAborted();
      // Unknown state: the action request itself may still get through, so send it.
      this.warn(`${label(pg)}: status unreadable (${errorMessage(err)}); sending ${pg.action} anyway`);
    }
    if (status?.status === 'stopped') {
      this.emit('guest-skipped', { stage: stage.name, guest, reason: 'not running' });
      return 'not-running';
    }
    const ha = status ? status.ha.managed : pg.ha;
    const action = this.effectiveAction(pg, ha);
    const haPrev = ha ? ((await haState(haSid(pg))) ?? 'started') : undefined;
    signal.throwIfAborted();

    journal.append({
      op: 'guest-action',
      phase: 'intent',
      vmid: pg.vmid,
      node: pg.node,
      type: pg.type,
      name: pg.name,
      stage: stage.name,
      group,
      final: stage.final,
      action,
      ha,
      ...(haPrev !== undefined ? { haPrev } : {}),
      restart: pg.restartOnPowerReturn,
      deadline: clock.now() + pg.timeoutMs,
    });
    try {
      const upid = await call(this.ctx, `${action} of ${label(pg)}`, () => this.send(pg, action, ha), signal, {
        powerAction: true,
      });
      journal.append({ op: 'guest-action', phase: 'done', vmid: pg.vmid, upid });
      this.emit('guest-action', { stage: stage.name, group, guest, action, ha, upid });
      this.opts.logger.info(`${label(pg)}: ${action} requested${ha ? ' through HA' : ''}`, { timeoutMs: pg.timeoutMs });
      return 'sent';
    } catch (err) {
      signal.throwIfAborted();
      if (mayHaveReachedServer(err)) {
        // Its answer was lost: Proxmox may be running it, so wait on the guest's status.
        this.warn(`${label(pg)}: ${action} request unconfirmed (${errorMessage(err)}); watching its status`);
        return 'sent';
      }
      journal.append({ op: 'guest-action', phase: 'failed', vmid: pg.vmid, error: errorMessage(err) });
      this.warn(`${label(pg)}: ${action} request failed (${errorMessage(err)}); escalating now`);
      return 'failed';
    }
  }

  private effectiveAction(pg: PlannedGuest, ha: boolean): SentAction {
    if (pg.action !== 'hibernate') return pg.action === 'stop' ? 'stop' : 'shutdown';
    if (pg.type === 'lxc') {
      this.warn(`${label(pg)}: containers cannot hibernate; shutting it down instead`);
      return 'shutdown';
    }
    if (ha) {
      this.warn(`${label(pg)}: Proxmox refuses hibernation of HA-managed VMs; shutting it down through HA instead`);
      return 'shutdown';
    }
    return 'hibernate';
  }

  private send(pg: PlannedGuest, action: SentAction, ha: boolean): Promise<string> {
    const pve = this.opts.pve;
    switch (action) {
      case 'hibernate':
        return pve.hibernateGuest(pg);
      case 'stop':
        return this.hardStop(pg, ha);
      case 'shutdown':
        // forceStop off: escalation is ours to decide. HA guests: this queues an HA stop (hastop).
        return pve.shutdownGuest(pg, { timeoutS: Math.max(1, Math.ceil(pg.timeoutMs / 1000)), forceStop: false });
    }
  }

  /** overrule-shutdown aborts a running shutdown first; Proxmox refuses it for HA guests, whose stop goes through HA with timeout 0. */
  private hardStop(ref: GuestRef, ha: boolean): Promise<string> {
    return this.opts.pve.stopGuest(ref, ha ? {} : { overruleShutdown: true });
  }

  private async escalate(stage: PlanStage, pg: PlannedGuest, rec: GuestState, signal: AbortSignal): Promise<void> {
    const journal = this.opts.journal;
    const how = rec.ha ? 'ha-stop' : 'stop';
    journal.append({ op: 'guest-escalate', phase: 'intent', vmid: pg.vmid, how, until: this.ctx.clock.now() + this.escalationGraceMs });
    this.emit('guest-escalated', { stage: stage.name, guest: guestInfo(pg), how });
    this.opts.logger.warn(`${label(pg)} still running after its timeout: hard stop${rec.ha ? ' through HA' : ''}`);
    try {
      const upid = await call(this.ctx, `stop of ${label(pg)}`, () => this.hardStop(refOf(rec), rec.ha), signal, {
        powerAction: true,
      });
      journal.append({ op: 'guest-escalate', phase: 'done', vmid: pg.vmid, upid });
    } catch (err) {
      signal.throwIfAborted();
      journal.append({ op: 'guest-escalate', phase: 'failed', vmid: pg.vmid, error: errorMessage(err) });
    }
  }

  private confirmStopped(stage: PlanStage, pg: PlannedGuest, rec: GuestState): GuestResult {
    this.opts.journal.append({ op: 'guest-stopped', phase: 'done', vmid: pg.vmid });
    const afterMs = this.ctx.clock.now() - rec.requestedAt;
    this.emit('guest-stopped', { stage: stage.name, guest: guestInfo(pg), afterMs });
    this.opts.logger.info(`${label(pg)} stopped`, { afterMs });
    return { guest: guestInfo(pg), outcome: 'stopped' };
  }

  private unresolved(stage: PlanStage, pg: PlannedGuest, error: string): GuestResult {
    this.opts.journal.append({ op: 'guest-unresolved', phase: 'failed', vmid: pg.vmid, error });
    this.emit('guest-failed', { stage: stage.name, guest: guestInfo(pg), error });
    this.opts.logger.error(`${label(pg)} could not be stopped; moving on`, { error });
    return { guest: guestInfo(pg), outcome: 'unresolved', error };
  }

  /**
   * The final stage after its guests: Ceph flags, HA disarm, the other nodes (in plan order, a
   * few seconds apart, without waiting for each to go down), then this host: killpower flag and
   * shutdown command. Returns undefined when aborted before the first node shutdown.
   */
  private async shutdownHosts(plan: Plan, signal: AbortSignal): Promise<HostsResult | undefined> {
    const { journal, pve, clock } = this.ctx;
    try {
      if (this.opts.ceph.enabled && this.opts.ceph.flags.length > 0 && !journal.state.ceph) await this.setCephFlags(signal);
      // After the guests, not before: while disarmed in freeze mode HA applies no new commands,
      // so an HA stop requested after it would never happen. Disarming now still covers what it
      // is for: the nodes that stay up longest must not self-fence when quorum goes.
      if (this.opts.haMode === 'disarm' && !journal.state.haDisarmed) await this.disarmHa(signal);
    } catch (err) {
      // Both steps rethrow only an abort.
      if (signal.aborted) return undefined;
      throw err;
    }

    const others = this.opts.nodeShutdown ? plan.hosts.filter((h) => !h.self && h.node !== this.opts.self) : [];
    const pending = others.filter((h) => !journal.state.nodesSent.includes(h.node));
    const offline = pending.length > 0 ? await this.offlineNodes(signal) : new Set<string>();
    if (signal.aborted && !journal.state.pointOfNoReturn) return undefined;

    // The point of no return: from here on nothing listens to the abort signal.
    const result: HostsResult = { nodesSent: [], nodesFailed: [], nodesSkipped: [], killpower: 'disabled', hostShutdown: 'ran' };
    const sends: Promise<void>[] = [];
    for (const [i, h] of pending.entries()) {
      if (offline.has(h.node)) {
        journal.append({ op: 'node-shutdown', phase: 'info', node: h.node, skipped: 'offline' });
        this.emit('node-shutdown', { node: h.node, ok: true, skipped: 'offline' });
        result.nodesSkipped.push(h.node);
        continue;
      }
      if (i > 0 && sends.length > 0) await clock.sleep(this.opts.nodeStaggerMs ?? 1000);
      journal.append({ op: 'node-shutdown', phase: 'intent', node: h.node });
      sends.push(
        call(this.ctx, `shutdown of node ${h.node}`, () => pve.shutdownNode(h.node)).then(
          () => {
            journal.append({ op: 'node-shutdown', phase: 'done', node: h.node });
            this.emit('node-shutdown', { node: h.node, ok: true });
            result.nodesSent.push(h.node);
          },
          (err: unknown) => {
            journal.append({ op: 'node-shutdown', phase: 'failed', node: h.node, error: errorMessage(err) });
            this.emit('node-shutdown', { node: h.node, ok: false, error: errorMessage(err) });
            result.nodesFailed.push(h.node);
          },
        ),
      );
    }
    await Promise.all(sends);

    if (this.opts.killpower ?? true) result.killpower = await this.writeKillpower();
    result.hostShutdown = await this.shutdownSelf();
    return result;
  }

  private async setCephFlags(signal: AbortSignal): Promise<void> {
    const { journal, pve } = this.ctx;
    const wanted = this.opts.ceph.flags;
    let current: Partial<Record<CephFlag, boolean>> = {};
    try {
      current = await call(this.ctx, 'reading Ceph flags', () => pve.cephFlags(), signal);
    } catch (err) {
      signal.throwIfAborted();
      this.warn(`Ceph flags unreadable (${errorMessage(err)}); setting all configured flags`);
    }
    const already = wanted.filter((f) => current[f]);
    const set = wanted.filter((f) => !current[f]);
    if (set.length === 0) {
      this.emit('ceph-flags', { set, already, ok: true });
      return;
    }
    journal.append({ op: 'ceph-set', phase: 'intent', flags: set, already });
    try {
      await call(this.ctx, 'setting Ceph flags', () => pve.setCephFlags(Object.fromEntries(set.map((f) => [f, true]))), signal);
      journal.append({ op: 'ceph-set', phase: 'done' });
      this.emit('ceph-flags', { set, already, ok: true });
      this.opts.logger.warn('Ceph flags set', { set, already });
    } catch (err) {
      signal.throwIfAborted();
      journal.append({ op: 'ceph-set', phase: 'failed', error: errorMessage(err) });
      this.emit('ceph-flags', { set, already, ok: false, error: errorMessage(err) });
    }
  }

  private async disarmHa(signal: AbortSignal): Promise<void> {
    const journal = this.ctx.journal;
    const mode = this.opts.haResourceMode ?? 'freeze';
    journal.append({ op: 'ha-disarm', phase: 'intent', mode });
    try {
      await call(this.ctx, 'disarming HA', () => this.opts.pve.disarmHa(mode), signal);
      journal.append({ op: 'ha-disarm', phase: 'done', mode });
      this.emit('ha-disarm', { ok: true });
      this.opts.logger.warn('HA disarmed', { resourceMode: mode });
    } catch (err) {
      signal.throwIfAborted();
      journal.append({ op: 'ha-disarm', phase: 'failed', mode, error: errorMessage(err) });
      this.emit('ha-disarm', { ok: false, error: errorMessage(err) });
    }
  }

  /** Nodes the cluster reports offline (no point sending them a shutdown); warns without quorum. */
  private async offlineNodes(signal: AbortSignal): Promise<Set<string>> {
    try {
      const status = await call(this.ctx, 'reading cluster status', () => this.opts.pve.clusterStatus(), signal);
      if (!status.quorate) this.warn('the cluster is not quorate; sending node shutdowns anyway');
      return new Set(status.nodes.filter((n) => !n.online).map((n) => n.node));
    } catch (err) {
      if (signal.aborted) return new Set();
      this.warn(`cluster status unreadable (${errorMessage(err)}); sending every node a shutdown`);
      return new Set();
    }
  }

  private async writeKillpower(): Promise<'written' | 'failed'> {
    const journal = this.ctx.journal;
    if (journal.state.killpower === 'done') return 'written';
    journal.append({ op: 'killpower', phase: 'intent' });
    try {
      await this.opts.host.writeKillpowerFlag();
      journal.append({ op: 'killpower', phase: 'done' });
      this.emit('killpower', { ok: true });
      return 'written';
    } catch (err) {
      // The host must still go down; the UPS then keeps its output on until the battery is flat.
      journal.append({ op: 'killpower', phase: 'failed', error: errorMessage(err) });
      this.emit('killpower', { ok: false, error: errorMessage(err) });
      this.opts.logger.error('killpower flag could not be written; shutting down anyway', { error: errorMessage(err) });
      return 'failed';
    }
  }

  /** A host shutdown journaled in this same boot (a daemon restart) runs again: the host is still up. */
  private async shutdownSelf(): Promise<'ran' | 'failed'> {
    const { journal, host, clock } = this.ctx;
    const bootId = await host.bootId();
    await host.notify('pvepower: power failure, this host shuts down now');
    const attempts = this.opts.hostShutdownAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      journal.append({ op: 'host-shutdown', phase: 'intent', ...(bootId !== undefined ? { bootId } : {}) });
      try {
        await host.runShutdownCommand();
        journal.append({ op: 'host-shutdown', phase: 'done' });
        this.emit('host-shutdown', { ok: true });
        return 'ran';
      } catch (err) {
        journal.append({ op: 'host-shutdown', phase: 'failed', error: errorMessage(err) });
        this.emit('host-shutdown', { ok: false, error: errorMessage(err) });
        this.opts.logger.error('host shutdown command failed', { attempt, error: errorMessage(err) });
        if (attempt >= attempts) return 'failed';
        await clock.sleep(this.opts.hostShutdownRetryMs ?? 10_000);
      }
    }
  }

  /** Same boot as when the host shutdown was recorded (a daemon restart, not a reboot). */
  private async sameBoot(recorded: string | undefined): Promise<boolean> {
    if (recorded === undefined) return false;
    return (await this.opts.host.bootId()) === recorded;
  }

  private warn(message: string): void {
    this.opts.logger.warn(message);
    this.emit('warning', { message });
  }
}
