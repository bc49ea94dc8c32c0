import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { CEPH_FLAGS, ENDPOINTS, type CephFlagName } from './endpoints.js';
import { paramError, serverError, TaskFailure } from './errors.js';
import { normalizeTags, type HaRequestState, type Scenario, type ScenarioGuest } from './scenario.js';
import { TaskRegistry, type Task, type TaskContext } from './tasks.js';
import { parsePropertyString, parseStartupOrder, type StartupOrder } from './validate.js';

/**
 * The simulated cluster: nodes, guests, quorum, HA, Ceph flags and datacenter options, with the
 * behaviour pvepower depends on (see /work/shared/research/proxmox.md):
 * - guest shutdown: ACPI/agent request, the guest OS takes `shutdownSeconds`; on timeout the
 *   task fails or, with forceStop, SIGTERM and 10 s later the VM is gone (lxc-stop kills at once);
 * - HA-managed guests: `hastop`/`hastart` tasks end at once, the CRM/LRM act `haLatencySeconds`
 *   later and the resource's requested state changes persistently;
 * - node shutdown: stopall (reverse startup order, groups in parallel, VMIDs descending), then
 *   the LRM's shutdown policy for HA guests, then the node goes offline and leaves quorum;
 * - quorum: online votes > total/2; without it starts, HA actions and config writes fail, nodes
 *   with an active LRM self-fence after 60 s, HA recovers services of lost nodes when quorate.
 * Every time is simulated time from the injected clock.
 */
export type GuestType = 'qemu' | 'lxc';
export type NodeState = 'online' | 'shutting-down' | 'offline' | 'booting';
/** The HA manager's service state (manager_status), as cluster/resources `hastate` shows it. */
export type CrmState = 'started' | 'stopped' | 'request_stop' | 'freeze' | 'fence' | 'migrate' | 'error';

export interface SimEvent {
  /** Simulated epoch milliseconds. */
  at: number;
  event: string;
  /** Who caused it: api, stopall, startall, ha, fence, poweroff, fault, control. */
  via?: string;
  upid?: string;
  detail?: string;
}

export interface SimGuest {
  readonly vmid: number;
  readonly type: GuestType;
  node: string;
  name: string;
  tags: string[];
  pool?: string;
  template: boolean;
  lock?: string;
  startup?: string;
  onboot: boolean;
  agent: boolean;
  agentDead: boolean;
  ignoresAcpi: boolean;
  shutdownSeconds: number;
  memoryMiB: number;
  cores: number;
  diskGiB: number;
  running: boolean;
  /** qemu: CPUs stopped (qmpstatus paused) while the process runs. */
  paused: boolean;
  pid?: number;
  startedAt?: number;
  events: SimEvent[];
}

export interface SimNode {
  readonly name: string;
  readonly nodeid: number;
  readonly ip: string;
  readonly local: boolean;
  readonly cephMon: boolean;
  readonly mac?: string;
  readonly bootSeconds: number;
  readonly votes: number;
  readonly cpus: number;
  readonly memoryGiB: number;
  state: NodeState;
  bootedAt: number;
  events: SimEvent[];
}

export interface SimHaResource {
  readonly sid: string;
  readonly type: 'vm' | 'ct';
  readonly vmid: number;
  /** The requested state in resources.cfg. */
  state: HaRequestState;
  group?: string;
  comment?: string;
  crmState: CrmState;
  /** Shutdown timeout the LRM uses for the pending stop request (crm-command stop <sid> <timeout>). */
  stopTimeout: number;
  /** When the CRM saw the resource's node go away (for recovery after haRecoverySeconds). */
  lostAt?: number;
}

interface GuestRuntime {
  /** The guest OS is powering off after an ACPI/agent request. */
  osShutdown?: TimerHandle;
  /** UPID of the task holding the guest's config lock (PVE's flock, not the `lock` property). */
  lockHolder?: string;
  /** UPID of the HA LRM's current action on the guest. */
  haAction?: string;
  statusLog: Array<{ at: number; status: string }>;
}

export const ROOT_USER = 'root@pam';
const CONFIG_LOCK_TIMEOUT_MS = 10_000;
const SIGTERM_WAIT_MS = 10_000;
const NODE_POWEROFF_DELAY_MS = 2_000;
const POWEROFF_MS = 5_000;
const WATCHDOG_MS = 60_000;
const DEFAULT_HA_STOP_TIMEOUT = 60;
const NO_QUORUM = 'cluster not ready - no quorum?';

const CEPH_FLAG_TEXT: Record<CephFlagName, string> = {
  nobackfill: 'Backfilling of PGs is suspended.',
  'nodeep-scrub': 'Deep Scrubbing is disabled.',
  nodown: 'OSD failure reports are being ignored, such that the monitors will not mark OSDs down.',
  noin: 'OSDs that were previously marked out will not be marked back in when they start.',
  noout: 'OSDs will not automatically be marked out after the configured interval.',
  norebalance: 'Rebalancing of PGs is suspended.',
  norecover: 'Recovery of PGs is suspended.',
  noscrub: 'Scrubbing is disabled.',
  notieragent: 'Cache tiering activity is suspended.',
  noup: 'OSDs are not allowed to start.',
  pause: 'Pauses read and writes.',
};

const HA_OPTION_FORMAT = ENDPOINTS.find((e) => e.method === 'PUT' && e.path === '/cluster/options')!.params.ha!.format as Record<
  string,
  { type?: string }
>;

export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

export interface ClusterEvents {
  /** The node the API runs on went down or came back: the server stops or resumes listening. */
  'local-node': [online: boolean];
}

export class SimCluster extends EventEmitter<ClusterEvents> {
  readonly name?: string;
  readonly version: string;
  readonly nodes = new Map<string, SimNode>();
  readonly guests = new Map<number, SimGuest>();
  readonly haResources = new Map<string, SimHaResource>();
  readonly cephFlags = {} as Record<CephFlagName, boolean>;
  /** datacenter.cfg, raw values as PUT /cluster/options takes them. */
  readonly options = new Map<string, string | number>();
  readonly tasks: TaskRegistry;
  readonly events: SimEvent[] = [];
  readonly startedAt: number;
  haArmed: boolean;
  haResourceMode: 'freeze' | 'ignore';
  private readonly haLatencyMs: number;
  private readonly haRecoveryMs: number;
  private readonly resourcesLagMs: number;
  private readonly runtime = new Map<number, GuestRuntime>();
  private readonly waiters = new Set<{ check(): void }>();
  /** Nodes back from power-off that still have to run startall once quorate. */
  private readonly pendingStartall = new Set<string>();
  /** Bumped on every power loss of a node, so a stale shutdown sequence stops acting. */
  private readonly powerCycle = new Map<string, number>();
  private quorate: boolean;
  private nextPid = 2000;

  constructor(
    scenario: Scenario,
    private readonly clock: Clock,
  ) {
    super();
    const c = scenario.cluster;
    this.name = c.name;
    this.version = c.version;
    this.haLatencyMs = c.haLatencySeconds * 1000;
    this.haRecoveryMs = c.haRecoverySeconds * 1000;
    this.resourcesLagMs = c.resourcesLagSeconds * 1000;
    this.haArmed = c.haArmed;
    this.haResourceMode = c.haResourceMode;
    this.startedAt = clock.now();
    for (const [k, v] of Object.entries(c.options)) this.options.set(k, v);
    for (const f of CEPH_FLAGS) this.cephFlags[f] = scenario.ceph.flags[f] ?? false;

    const hasLocal = scenario.nodes.some((n) => n.local);
    scenario.nodes.forEach((n, i) => {
      this.nodes.set(n.name, {
        name: n.name,
        nodeid: i + 1,
        ip: n.ip ?? `192.0.2.${11 + i}`,
        local: n.local || (!hasLocal && i === 0),
        cephMon: n.cephMon,
        mac: n.mac,
        bootSeconds: n.bootSeconds,
        votes: n.votes,
        cpus: n.cpus,
        memoryGiB: n.memoryGiB,
        state: n.online ? 'online' : 'offline',
        // Nodes have been up for a day when the simulation starts.
        bootedAt: this.startedAt - 86_400_000,
        events: [],
      });
    });
    for (const g of scenario.guests) this.addGuest(g);
    this.tasks = new TaskRegistry(clock, (node) => this.nodes.get(node)?.bootedAt ?? this.startedAt);
    this.quorate = this.computeQuorum();
    // The HA manager reconciles from the start, e.g. starts a `started` resource found stopped.
    this.scheduleCrm(this.haLatencyMs);
  }

  private addGuest(s: ScenarioGuest): void {
    const online = this.nodes.get(s.node)!.state === 'online';
    const running = online && s.status !== 'stopped';
    const g: SimGuest = {
      vmid: s.vmid,
      type: s.type,
      node: s.node,
      name: s.name ?? `${s.type === 'qemu' ? 'vm' : 'ct'}${s.vmid}`,
      tags: normalizeTags(s.tags),
      pool: s.pool,
      template: s.template,
      lock: s.lock,
      startup: s.startup,
      onboot: s.onboot,
      agent: s.agent,
      agentDead: s.agentDead,
      ignoresAcpi: s.ignoresAcpi,
      shutdownSeconds: s.shutdownSeconds,
      memoryMiB: s.memoryMiB,
      cores: s.cores,
      diskGiB: s.diskGiB,
      running,
      paused: running && s.status === 'paused',
      pid: running ? this.nextPid++ : undefined,
      startedAt: running ? this.startedAt - 3_600_000 : undefined,
      events: [],
    };
    this.guests.set(g.vmid, g);
    this.runtime.set(g.vmid, { statusLog: [{ at: 0, status: this.qmpStatus(g) }] });
    if (s.ha) {
      const spec = typeof s.ha === 'string' ? { state: s.ha } : s.ha;
      const type = s.type === 'qemu' ? 'vm' : 'ct';
      const sid = `${type}:${s.vmid}`;
      this.haResources.set(sid, {
        sid,
        type,
        vmid: s.vmid,
        state: spec.state,
        group: 'group' in spec ? spec.group : undefined,
        comment: 'comment' in spec ? spec.comment : undefined,
        crmState: running ? 'started' : 'stopped',
        stopTimeout: DEFAULT_HA_STOP_TIMEOUT,
      });
    }
  }

  // ---- lookups -------------------------------------------------------------------------------

  now(): number {
    return this.clock.now();
  }

  get localNode(): SimNode {
    return [...this.nodes.values()].find((n) => n.local)!;
  }

  isOnline(node: SimNode): boolean {
    return node.state === 'online' || node.state === 'shutting-down';
  }

  isQuorate(): boolean {
    return this.quorate;
  }

  private rt(g: SimGuest): GuestRuntime {
    return this.runtime.get(g.vmid)!;
  }

  /** The guest whose config lives on `node` (PVE reads nodes/NODE/qemu-server/ID.conf). */
  guestOn(node: string, type: GuestType, vmid: number): SimGuest {
    const g = this.guests.get(vmid);
    if (!g || g.node !== node || g.type !== type) {
      const dir = type === 'qemu' ? 'qemu-server' : 'lxc';
      throw serverError(`Configuration file 'nodes/${node}/${dir}/${vmid}.conf' does not exist`);
    }
    return g;
  }

  haResourceOf(g: SimGuest): SimHaResource | undefined {
    return this.haResources.get(`${g.type === 'qemu' ? 'vm' : 'ct'}:${g.vmid}`);
  }

  /** PVE's vm_is_ha_managed: an HA resource not `ignored`; disarm-ha in ignore mode releases all. */
  haManaged(g: SimGuest): boolean {
    const res = this.haResourceOf(g);
    return res !== undefined && res.state !== 'ignored' && (this.haArmed || this.haResourceMode !== 'ignore');
  }

  startupOf(g: SimGuest): StartupOrder {
    return (g.startup && parseStartupOrder(g.startup)) || {};
  }

  /** QEMU's run state: running, paused, stopped (lxc: running or stopped). */
  qmpStatus(g: SimGuest): string {
    if (!g.running) return 'stopped';
    return g.paused ? 'paused' : 'running';
  }

  /** The status GET /cluster/resources shows: pvestatd's view, `resourcesLagSeconds` old. */
  reportedStatus(g: SimGuest): string {
    if (!this.isOnline(this.nodes.get(g.node)!)) return 'unknown';
    const horizon = this.clock.now() - this.startedAt - this.resourcesLagMs;
    const log = this.rt(g).statusLog;
    return [...log].reverse().find((e) => e.at <= horizon)?.status ?? log[0]!.status;
  }

  shutdownPolicy(): string {
    const raw = this.options.get('ha');
    if (raw === undefined) return 'conditional';
    return parsePropertyString(HA_OPTION_FORMAT, String(raw), 'ha').shutdown_policy ?? 'conditional';
  }

  // ---- state changes ---------------------------------------------------------------------------

  private record(target: { events: SimEvent[] }, event: string, extra: Omit<SimEvent, 'at' | 'event'> = {}): void {
    target.events.push({ at: this.clock.now(), event, ...extra });
  }

  private statusChanged(g: SimGuest): void {
    this.rt(g).statusLog.push({ at: this.clock.now() - this.startedAt, status: this.qmpStatus(g) });
    this.changed();
  }

  /** Wakes every waitUntil() whose condition now holds. */
  private changed(): void {
    for (const w of [...this.waiters]) w.check();
  }

  /** Resolves true once `cond` holds, false after `timeoutMs`; rejects when `signal` aborts. */
  private waitUntil(cond: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const finish = () => {
        this.waiters.delete(waiter);
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter = {
        check: () => {
          if (!cond()) return;
          finish();
          resolve(true);
        },
      };
      const onAbort = () => {
        finish();
        reject(signal!.reason);
      };
      const timer = Number.isFinite(timeoutMs)
        ? this.clock.setTimeout(() => {
            finish();
            resolve(cond());
          }, timeoutMs)
        : undefined;
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private markStopped(g: SimGuest, detail: string, via?: string): void {
    const rt = this.rt(g);
    this.clock.clearTimeout(rt.osShutdown);
    rt.osShutdown = undefined;
    if (!g.running) return;
    g.running = false;
    g.paused = false;
    g.pid = undefined;
    g.startedAt = undefined;
    this.record(g, 'stopped', { detail, via });
    this.statusChanged(g);
  }

  private markStarted(g: SimGuest, detail: string, via?: string): void {
    if (g.running) return;
    g.running = true;
    g.paused = false;
    g.pid = this.nextPid++;
    g.startedAt = this.clock.now();
    this.record(g, 'started', { detail, via });
    this.statusChanged(g);
  }

  /** Whether the guest acts on a shutdown request at all. */
  private honoursShutdown(g: SimGuest): boolean {
    if (g.agent && !g.agentDead) return true;
    // A dead agent swallowed guest-shutdown until qemu-server 8.3.4 checked it and used ACPI.
    if (g.agent && g.agentDead && !versionAtLeast(this.version, '8.3')) return false;
    return !g.ignoresAcpi;
  }

  /** ACPI power button / guest-shutdown / SIGPWR: the guest OS starts powering off. */
  private deliverShutdown(g: SimGuest): void {
    const rt = this.rt(g);
    if (!g.running || rt.osShutdown || !this.honoursShutdown(g)) return;
    rt.osShutdown = this.clock.setTimeout(() => {
      rt.osShutdown = undefined;
      this.markStopped(g, 'shutdown');
    }, g.shutdownSeconds * 1000);
  }

  private lockFile(g: SimGuest): string {
    return g.type === 'qemu' ? `/var/lock/qemu-server/lock-${g.vmid}.conf` : `/run/lock/lxc/pve-config-${g.vmid}.lock`;
  }

  /** PVE's lock_config: a flock on the guest config, 10 s timeout. */
  private async withConfigLock(g: SimGuest, ctx: TaskContext, fn: () => Promise<void>): Promise<void> {
    const rt = this.rt(g);
    if (!(await this.waitUntil(() => rt.lockHolder === undefined, CONFIG_LOCK_TIMEOUT_MS, ctx.signal))) {
      throw new TaskFailure(`can't lock file '${this.lockFile(g)}' - got timeout`);
    }
    rt.lockHolder = ctx.upid;
    try {
      await fn();
    } finally {
      if (rt.lockHolder === ctx.upid) rt.lockHolder = undefined;
      this.changed();
    }
  }

  private checkLock(g: SimGuest, skiplock: boolean): void {
    if (g.lock && !skiplock) throw new TaskFailure(`${g.type === 'qemu' ? 'VM' : 'CT'} is locked (${g.lock})`);
  }

  private requireQuorum(): void {
    if (!this.quorate) throw serverError(NO_QUORUM);
  }

  // ---- guest power: the task bodies ------------------------------------------------------------

  /**
   * qmshutdown / vzshutdown, shared by the API, stopall and the HA LRM. Timeout: qemu takes the
   * parameter, else startup `down`, else 60; lxc the parameter, else 60.
   */
  startShutdownTask(
    g: SimGuest,
    opts: { timeoutS?: number; forceStop: boolean; skiplock?: boolean; stopInstead?: boolean },
    user: string,
    via: string,
  ): Task {
    const type = g.type === 'qemu' ? 'qmshutdown' : 'vzshutdown';
    const task = this.tasks.start(g.node, type, String(g.vmid), user, (ctx) =>
      this.withConfigLock(g, ctx, async () => {
        if (!g.running) return;
        this.checkLock(g, opts.skiplock ?? false);
        if (opts.stopInstead) {
          this.markStopped(g, 'killed', via);
          return;
        }
        const timeoutS = opts.timeoutS ?? (g.type === 'qemu' ? this.startupOf(g).down : undefined) ?? 60;
        this.deliverShutdown(g);
        if (await this.waitUntil(() => !g.running, timeoutS * 1000, ctx.signal)) return;
        if (g.type === 'lxc') {
          // lxc-stop without --nokill kills the container when its timeout expires.
          if (!opts.forceStop) throw new TaskFailure('container did not stop');
          this.markStopped(g, 'killed', via);
          return;
        }
        if (!opts.forceStop) throw new TaskFailure('VM quit/powerdown failed - got timeout');
        ctx.warn('VM still running - terminating now with SIGTERM');
        if (await this.waitUntil(() => !g.running, SIGTERM_WAIT_MS, ctx.signal)) return;
        this.markStopped(g, 'killed', via);
      }),
    );
    this.record(g, requestEvent('shutdown', via), { via, upid: task.upid });
    return task;
  }

  private startStopTask(g: SimGuest, opts: { skiplock?: boolean; overrule?: boolean }, user: string, via: string): Task {
    const shutdownType = g.type === 'qemu' ? 'qmshutdown' : 'vzshutdown';
    const task = this.tasks.start(g.node, g.type === 'qemu' ? 'qmstop' : 'vzstop', String(g.vmid), user, async (ctx) => {
      if (opts.overrule) {
        for (const t of this.tasks.running((t) => t.type === shutdownType && t.id === String(g.vmid))) {
          ctx.log(`overruling shutdown task ${t.upid}`);
          this.tasks.abort(t.upid);
        }
      }
      await this.withConfigLock(g, ctx, async () => {
        if (!g.running) return;
        this.checkLock(g, opts.skiplock ?? false);
        this.markStopped(g, 'killed', via);
      });
    });
    this.record(g, requestEvent('stop', via), { via, upid: task.upid });
    return task;
  }

  private startStartTask(g: SimGuest, opts: { skiplock?: boolean }, user: string, via: string): Task {
    const task = this.tasks.start(g.node, g.type === 'qemu' ? 'qmstart' : 'vzstart', String(g.vmid), user, (ctx) =>
      this.withConfigLock(g, ctx, async () => {
        if (g.running) throw new TaskFailure(`${g.type === 'qemu' ? 'VM' : 'CT'} ${g.vmid} already running`);
        if (g.template) throw new TaskFailure("you can't start a vm if it's a template");
        // A hibernated VM carries lock `suspended`; starting it resumes and clears the lock.
        const resuming = g.lock === 'suspended';
        if (resuming) g.lock = undefined;
        else this.checkLock(g, opts.skiplock ?? false);
        this.markStarted(g, resuming ? 'resume' : 'start', via);
      }),
    );
    this.record(g, requestEvent('start', via), { via, upid: task.upid });
    return task;
  }

  // ---- guest power: the API --------------------------------------------------------------------

  /** POST …/status/shutdown. */
  shutdownGuest(g: SimGuest, opts: { timeoutS?: number; forceStop: boolean; skiplock: boolean }, user: string): string {
    let stopInstead = false;
    if (g.type === 'lxc') {
      if (!g.running) throw serverError(`CT ${g.vmid} not running`);
    } else if (g.running && g.paused) {
      // The API checks this before forking the worker: a synchronous error, not a failed task.
      if (!opts.forceStop) throw serverError('VM is paused - cannot shutdown');
      stopInstead = true;
    }
    if (this.haManaged(g)) return this.haTask(g, 'hastop', 'stopped', opts.timeoutS ?? DEFAULT_HA_STOP_TIMEOUT, user);
    return this.startShutdownTask(g, { ...opts, stopInstead }, user, 'api').upid;
  }

  /** POST …/status/stop. */
  stopGuest(g: SimGuest, opts: { overrule: boolean; skiplock: boolean }, user: string): string {
    if (g.type === 'lxc' && !g.running) throw serverError(`CT ${g.vmid} not running`);
    if (this.haManaged(g)) {
      if (opts.overrule) throw paramError({ 'overrule-shutdown': 'Not applicable for HA resources.' });
      return this.haTask(g, 'hastop', 'stopped', 0, user);
    }
    return this.startStopTask(g, opts, user, 'api').upid;
  }

  /** POST …/status/start. */
  startGuest(g: SimGuest, opts: { skiplock: boolean }, user: string): string {
    this.requireQuorum();
    if (g.type === 'lxc' && g.running) throw serverError(`CT ${g.vmid} already running`);
    if (this.haManaged(g)) return this.haTask(g, 'hastart', 'started', DEFAULT_HA_STOP_TIMEOUT, user);
    return this.startStartTask(g, opts, user, 'api').upid;
  }

  /** POST /nodes/{n}/qemu/{vmid}/status/suspend: pause, or hibernate with todisk. */
  suspendGuest(g: SimGuest, opts: { todisk: boolean; skiplock: boolean }, user: string): string {
    if (opts.todisk && this.haManaged(g)) throw serverError('Cannot suspend HA managed VM to disk');
    const task = this.tasks.start(g.node, opts.todisk ? 'qmsuspend' : 'qmpause', String(g.vmid), user, (ctx) =>
      this.withConfigLock(g, ctx, async () => {
        if (!g.running) throw new TaskFailure(`VM ${g.vmid} not running`);
        this.checkLock(g, opts.skiplock);
        if (!opts.todisk) {
          g.paused = true;
          this.record(g, 'paused', { via: 'api' });
          this.statusChanged(g);
          return;
        }
        g.lock = 'suspending';
        // Saving the RAM image takes a while: about a second per GiB.
        await this.clock.sleep(Math.max(2000, g.memoryMiB), ctx.signal);
        g.lock = 'suspended';
        this.markStopped(g, 'hibernated', 'api');
      }),
    );
    this.record(g, opts.todisk ? 'hibernate-requested' : 'pause-requested', { via: 'api', upid: task.upid });
    return task.upid;
  }

  // ---- HA ----------------------------------------------------------------------------------------

  /** hastop / hastart: queue the CRM command and end OK at once; the LRM acts later. */
  private haTask(g: SimGuest, type: 'hastop' | 'hastart', state: HaRequestState, timeoutS: number, user: string): string {
    this.requireQuorum();
    const res = this.haResourceOf(g)!;
    const task = this.tasks.start(g.node, type, String(g.vmid), user, async (ctx) => {
      ctx.log(`Requesting HA ${type === 'hastop' ? 'stop' : 'start'} for VM ${g.vmid}`);
      this.requestHaState(res, state, timeoutS);
    });
    this.record(g, type === 'hastop' ? (timeoutS === 0 ? 'stop-requested' : 'shutdown-requested') : 'start-requested', {
      via: 'api',
      upid: task.upid,
    });
    return task.upid;
  }

  /** A new requested state in resources.cfg (persistent); the CRM picks it up next round. */
  requestHaState(res: SimHaResource, state: HaRequestState, stopTimeoutS = DEFAULT_HA_STOP_TIMEOUT): void {
    res.state = state;
    res.stopTimeout = stopTimeoutS;
    this.scheduleCrm(this.haLatencyMs);
  }

  /** PUT /cluster/ha/resources/{sid}. */
  updateHaResource(res: SimHaResource, changes: { state?: string; comment?: string; group?: string }): void {
    this.requireQuorum();
    if (changes.state !== undefined) {
      const state = (changes.state === 'enabled' ? 'started' : changes.state) as HaRequestState;
      if (res.crmState === 'error' && state !== 'disabled') {
        throw serverError(`service '${res.sid}' is in an error state and must be disabled and fixed first`);
      }
      this.requestHaState(res, state);
    }
    if (changes.comment !== undefined) res.comment = changes.comment;
    if (changes.group !== undefined) res.group = changes.group;
  }

  disarmHa(mode: 'freeze' | 'ignore'): void {
    this.requireQuorum();
    this.haArmed = false;
    this.haResourceMode = mode;
    this.record(this, 'ha-disarmed', { detail: mode });
  }

  armHa(): void {
    this.requireQuorum();
    this.haArmed = true;
    this.record(this, 'ha-armed');
    this.scheduleCrm(this.haLatencyMs);
  }

  /** An LRM holds its watchdog while any HA resource is configured on its node. */
  private lrmActive(node: SimNode): boolean {
    return this.haArmed && [...this.haResources.values()].some((r) => r.state !== 'ignored' && this.guests.get(r.vmid)!.node === node.name);
  }

  private scheduleCrm(delayMs: number): void {
    this.clock.setTimeout(() => this.crmRound(), delayMs);
  }

  /** One round of the CRM master plus the LRMs: bring every HA service to its requested state. */
  private crmRound(): void {
    if (!this.quorate || !this.haArmed) return;
    for (const res of this.haResources.values()) {
      if (res.state === 'ignored') continue;
      const g = this.guests.get(res.vmid)!;
      const node = this.nodes.get(g.node)!;
      const rt = this.rt(g);
      if (rt.haAction && this.tasks.get(rt.haAction)?.status === 'running') continue;
      if (!this.isOnline(node)) {
        this.recoverService(res, g);
        continue;
      }
      res.lostAt = undefined;
      if (res.state === 'started') {
        if (node.state === 'shutting-down') continue;
        res.crmState = 'started';
        if (!g.running) rt.haAction = this.startStartTask(g, {}, ROOT_USER, 'ha').upid;
      } else if (g.running) {
        res.crmState = 'request_stop';
        const task =
          res.stopTimeout === 0
            ? this.startStopTask(g, {}, ROOT_USER, 'ha')
            : // The LRM forces VMs down after the timeout; containers get a plain shutdown.
              this.startShutdownTask(g, { timeoutS: res.stopTimeout, forceStop: g.type === 'qemu' }, ROOT_USER, 'ha');
        rt.haAction = task.upid;
        void this.tasks.whenDone(task.upid).then(() => {
          if (res.crmState === 'request_stop') res.crmState = g.running ? 'error' : 'stopped';
        });
      } else {
        res.crmState = 'stopped';
      }
    }
  }

  /** Services of a lost node: fenced, then started on a surviving node after haRecoverySeconds. */
  private recoverService(res: SimHaResource, g: SimGuest): void {
    if (res.state !== 'started' || res.crmState === 'freeze') return;
    const now = this.clock.now();
    if (res.lostAt === undefined) {
      res.lostAt = now;
      res.crmState = 'fence';
      this.scheduleCrm(this.haRecoveryMs);
      return;
    }
    if (now - res.lostAt < this.haRecoveryMs) return;
    const target = this.pickTarget(g.node);
    if (!target) return;
    const from = g.node;
    g.node = target.name;
    res.lostAt = undefined;
    res.crmState = 'started';
    this.record(g, 'recovered', { via: 'ha', detail: `${from} -> ${target.name}` });
    this.rt(g).haAction = this.startStartTask(g, {}, ROOT_USER, 'ha').upid;
  }

  /** The online node (not shutting down) running the fewest guests. */
  private pickTarget(exclude: string): SimNode | undefined {
    const load = (n: SimNode) => [...this.guests.values()].filter((g) => g.node === n.name && g.running).length;
    return [...this.nodes.values()]
      .filter((n) => n.name !== exclude && n.state === 'online')
      .sort((a, b) => load(a) - load(b) || a.nodeid - b.nodeid)[0];
  }

  // ---- nodes ----------------------------------------------------------------------------------------

  /** POST /nodes/{n}/status command=shutdown|reboot: returns at once, powers off 2 s later. */
  nodePower(node: SimNode, command: 'shutdown' | 'reboot'): void {
    if (node.state !== 'online') return;
    node.state = 'shutting-down';
    this.record(node, `${command}-requested`, { via: 'api' });
    void this.runNodeShutdown(node, command === 'reboot');
  }

  private async runNodeShutdown(node: SimNode, reboot: boolean): Promise<void> {
    const cycle = this.cycleOf(node);
    const stillOurs = () => node.state === 'shutting-down' && this.cycleOf(node) === cycle;
    await this.clock.sleep(NODE_POWEROFF_DELAY_MS);
    if (!stillOurs()) return;
    // pve-guests.service: stopall for everything that is not HA-managed.
    const stopall = this.tasks.start(node.name, 'stopall', '', ROOT_USER, (ctx) => this.stopAll(node, ctx));
    this.record(node, 'stopall', { upid: stopall.upid });
    await this.tasks.whenDone(stopall.upid);
    if (!stillOurs()) return;
    // pve-ha-lrm.service stops after it: the shutdown policy for HA guests.
    await this.lrmShutdown(node, reboot);
    if (!stillOurs()) return;
    await this.clock.sleep(POWEROFF_MS);
    if (!stillOurs()) return;
    this.goOffline(node, reboot ? 'reboot' : 'shutdown', 'api');
    if (reboot) this.boot(node, 'reboot');
  }

  private async stopAll(node: SimNode, ctx: TaskContext): Promise<void> {
    const guests = [...this.guests.values()].filter(
      (g) => g.node === node.name && g.running && !g.template && !(this.haManaged(g) && this.haArmed),
    );
    const orderOf = (g: SimGuest) => this.startupOf(g).order ?? Number.MAX_SAFE_INTEGER;
    const orders = [...new Set(guests.map(orderOf))].sort((a, b) => b - a);
    const maxWorkers = Number(this.options.get('max_workers') ?? defaultMaxWorkers(node.cpus, this.version));
    for (const order of orders) {
      const group = guests.filter((g) => orderOf(g) === order).sort((a, b) => b.vmid - a.vmid);
      await runLimited(group, maxWorkers, async (g) => {
        // stopall always forces; a paused VM is stopped instead of shut down.
        const opts = { timeoutS: this.startupOf(g).down ?? 180, forceStop: true, stopInstead: g.paused };
        const task = this.startShutdownTask(g, opts, ROOT_USER, 'stopall');
        const done = await this.tasks.whenDone(task.upid);
        if (done.exitstatus !== 'OK' && !done.exitstatus?.startsWith('WARNINGS')) ctx.warn(`unable to shut down VM ${g.vmid}: ${done.exitstatus}`);
      });
    }
  }

  private async lrmShutdown(node: SimNode, reboot: boolean): Promise<void> {
    if (!this.haArmed) return;
    const configured = this.shutdownPolicy();
    const policy = configured === 'conditional' ? (reboot ? 'freeze' : 'failover') : configured;
    const services = [...this.haResources.values()].filter((r) => {
      const g = this.guests.get(r.vmid)!;
      return r.state !== 'ignored' && g.node === node.name && g.running;
    });
    await Promise.all(
      services.map(async (res) => {
        const g = this.guests.get(res.vmid)!;
        if (policy === 'migrate') {
          // The shutdown hangs until some node can take the service.
          let target: SimNode | undefined;
          await this.waitUntil(() => (target = this.pickTarget(node.name)) !== undefined, Infinity);
          res.crmState = 'migrate';
          await this.clock.sleep(Math.max(2000, g.memoryMiB));
          const from = g.node;
          g.node = target!.name;
          res.crmState = 'started';
          this.record(g, 'migrated', { via: 'ha', detail: `${from} -> ${target!.name}` });
          return;
        }
        const task = this.startShutdownTask(g, { timeoutS: DEFAULT_HA_STOP_TIMEOUT, forceStop: g.type === 'qemu' }, ROOT_USER, 'ha');
        await this.tasks.whenDone(task.upid);
        if (policy === 'freeze') res.crmState = 'freeze';
      }),
    );
  }

  /** Power is gone: guests die, tasks vanish, the node leaves quorum. */
  private goOffline(node: SimNode, detail: string, via: string): void {
    node.state = 'offline';
    this.powerCycle.set(node.name, this.cycleOf(node) + 1);
    this.pendingStartall.delete(node.name);
    this.tasks.abortNode(node.name);
    for (const g of this.guests.values()) {
      if (g.node === node.name) this.markStopped(g, 'poweroff', via);
    }
    this.record(node, 'offline', { detail, via });
    if (node.local) this.emit('local-node', false);
    this.updateQuorum();
    this.scheduleCrm(0);
    this.changed();
  }

  private cycleOf(node: SimNode): number {
    return this.powerCycle.get(node.name) ?? 0;
  }

  private boot(node: SimNode, via: string): void {
    if (node.state !== 'offline') return;
    node.state = 'booting';
    this.record(node, 'power-on', { via });
    const cycle = this.cycleOf(node);
    this.clock.setTimeout(() => {
      if (node.state !== 'booting' || this.cycleOf(node) !== cycle) return;
      node.state = 'online';
      node.bootedAt = this.clock.now();
      this.record(node, 'online', { via });
      this.pendingStartall.add(node.name);
      if (node.local) this.emit('local-node', true);
      this.updateQuorum();
      this.runPendingStartall();
      this.scheduleCrm(this.haLatencyMs);
      this.changed();
    }, node.bootSeconds * 1000);
  }

  /** POST /nodes/{n}/wakeonlan: the magic packet; an offline node boots. Returns the MAC. */
  wakeNode(node: SimNode): string {
    if (!node.mac) throw serverError(`No wake on LAN MAC address defined for '${node.name}'!`);
    this.record(node, 'wake-requested', { via: 'api' });
    this.boot(node, 'wakeonlan');
    return node.mac;
  }

  /** Control API / faults: a node loses power (no clean shutdown). */
  powerOffNode(name: string, via = 'control'): void {
    const node = this.node(name);
    if (node.state !== 'offline') this.goOffline(node, 'poweroff', via);
  }

  /** Control API: a node is powered on (as by hand or IPMI). */
  powerOnNode(name: string): void {
    this.boot(this.node(name), 'control');
  }

  node(name: string): SimNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node '${name}' in the scenario`);
    return node;
  }

  guest(vmid: number): SimGuest {
    const g = this.guests.get(vmid);
    if (!g) throw new Error(`no guest ${vmid} in the scenario`);
    return g;
  }

  // ---- quorum --------------------------------------------------------------------------------------

  private computeQuorum(): boolean {
    const nodes = [...this.nodes.values()];
    const total = nodes.reduce((s, n) => s + n.votes, 0);
    const online = nodes.filter((n) => this.isOnline(n)).reduce((s, n) => s + n.votes, 0);
    return online > total / 2;
  }

  private updateQuorum(): void {
    const now = this.computeQuorum();
    if (now === this.quorate) return;
    this.quorate = now;
    this.record(this, now ? 'quorate' : 'quorum-lost');
    if (now) {
      this.runPendingStartall();
      this.scheduleCrm(this.haLatencyMs);
    } else {
      for (const node of this.nodes.values()) if (this.isOnline(node) && this.lrmActive(node)) this.armWatchdog(node);
    }
  }

  /** Without quorum an active LRM stops feeding the watchdog: the node resets 60 s later. */
  private armWatchdog(node: SimNode): void {
    const cycle = this.cycleOf(node);
    this.clock.setTimeout(() => {
      if (this.quorate || !this.isOnline(node) || this.cycleOf(node) !== cycle || !this.lrmActive(node)) return;
      const servicesRunning = [...this.haResources.values()].some((r) => {
        const g = this.guests.get(r.vmid)!;
        return r.state !== 'ignored' && g.node === node.name && g.running;
      });
      // A node already shutting down with none of its services running has closed the watchdog.
      if (node.state === 'shutting-down' && !servicesRunning) return;
      this.record(node, 'fenced', { via: 'watchdog' });
      this.goOffline(node, 'fence', 'watchdog');
      this.boot(node, 'watchdog');
    }, WATCHDOG_MS);
  }

  private runPendingStartall(): void {
    if (!this.quorate) return;
    for (const name of [...this.pendingStartall]) {
      this.pendingStartall.delete(name);
      const node = this.nodes.get(name)!;
      const task = this.tasks.start(name, 'startall', '', ROOT_USER, (ctx) => this.startAll(node, ctx));
      this.record(node, 'startall', { upid: task.upid });
    }
  }

  /** startall: onboot guests that are not HA-managed, ascending order, `up` seconds apart. */
  private async startAll(node: SimNode, ctx: TaskContext): Promise<void> {
    const orderOf = (g: SimGuest) => this.startupOf(g).order ?? Number.MAX_SAFE_INTEGER;
    const guests = [...this.guests.values()]
      .filter((g) => g.node === node.name && g.onboot && !g.template && !g.running && !this.haManaged(g))
      .sort((a, b) => orderOf(a) - orderOf(b) || a.vmid - b.vmid);
    for (const g of guests) {
      const task = this.startStartTask(g, {}, ROOT_USER, 'startall');
      await this.tasks.whenDone(task.upid);
      await this.clock.sleep((this.startupOf(g).up ?? 0) * 1000, ctx.signal);
    }
  }

  // ---- Ceph and options ----------------------------------------------------------------------------

  /** Ceph calls need Ceph (a scenario without MONs has none installed) and a MON quorum. */
  requireCeph(): void {
    const mons = [...this.nodes.values()].filter((n) => n.cephMon);
    if (mons.length === 0) throw serverError('binary not installed: /usr/bin/ceph-mon');
    if (mons.filter((n) => this.isOnline(n)).length <= mons.length / 2) throw serverError('got timeout');
  }

  /** GET /nodes/{n}/ceph/mon: the monitor map. */
  cephMonitors(): Array<Record<string, unknown>> {
    this.requireCeph();
    return [...this.nodes.values()]
      .filter((n) => n.cephMon)
      .map((n, rank) => ({
        name: n.name,
        host: n.name,
        addr: `${n.ip}:6789/0`,
        rank,
        quorum: this.isOnline(n) ? 1 : 0,
        state: this.isOnline(n) ? 'running' : 'stopped',
        service: 1,
        direxists: 1,
      }));
  }

  cephFlagList(): Array<{ name: CephFlagName; description: string; value: number }> {
    this.requireCeph();
    return CEPH_FLAGS.map((name) => ({ name, description: CEPH_FLAG_TEXT[name], value: this.cephFlags[name] ? 1 : 0 }));
  }

  /** PUT /cluster/ceph/flags: a `cephsetflags` task on the local node. */
  setCephFlags(flags: Partial<Record<CephFlagName, boolean>>, user: string): string {
    this.requireCeph();
    return this.tasks.start(this.localNode.name, 'cephsetflags', '', user, async () => {
      for (const [name, value] of Object.entries(flags)) this.setCephFlag(name as CephFlagName, value);
    }).upid;
  }

  setCephFlag(name: CephFlagName, value: boolean): void {
    this.requireCeph();
    if (this.cephFlags[name] === value) return;
    this.cephFlags[name] = value;
    this.record(this, value ? 'ceph-flag-set' : 'ceph-flag-unset', { detail: name });
  }

  /** GET /cluster/options: datacenter.cfg with property strings parsed. */
  optionsView(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of this.options) out[k] = k === 'ha' ? parsePropertyString(HA_OPTION_FORMAT, String(v), 'ha') : v;
    return out;
  }

  setOptions(values: Record<string, string | number>, deletes: string[]): void {
    this.requireQuorum();
    for (const k of deletes) this.options.delete(k);
    for (const [k, v] of Object.entries(values)) this.options.set(k, v);
    this.record(this, 'options-changed', { detail: [...Object.keys(values), ...deletes.map((d) => `-${d}`)].join(',') });
  }

  // ---- dump ------------------------------------------------------------------------------------------

  dump(): SimStateDump {
    const times = (g: SimGuest, event: string) => g.events.filter((e) => e.event === event).map((e) => e.at);
    return {
      now: this.clock.now(),
      startedAt: this.startedAt,
      quorate: this.quorate,
      ha: {
        armed: this.haArmed,
        resourceMode: this.haResourceMode,
        resources: [...this.haResources.values()].map((r) => ({ sid: r.sid, state: r.state, crmState: r.crmState })),
      },
      cephFlags: { ...this.cephFlags },
      options: Object.fromEntries(this.options),
      events: [...this.events],
      nodes: [...this.nodes.values()].map((n) => ({
        name: n.name,
        state: n.state,
        online: this.isOnline(n),
        events: [...n.events],
        shutdownRequestedAt: n.events.filter((e) => e.event === 'shutdown-requested' || e.event === 'reboot-requested').map((e) => e.at),
        offlineAt: n.events.filter((e) => e.event === 'offline').map((e) => e.at),
      })),
      guests: [...this.guests.values()].map((g) => ({
        vmid: g.vmid,
        type: g.type,
        name: g.name,
        node: g.node,
        status: g.running ? 'running' : 'stopped',
        qmpstatus: this.qmpStatus(g),
        lock: g.lock,
        hastate: this.haManaged(g) ? this.haResourceOf(g)!.crmState : undefined,
        events: [...g.events],
        shutdownRequestedAt: times(g, 'shutdown-requested'),
        stopRequestedAt: times(g, 'stop-requested'),
        startRequestedAt: times(g, 'start-requested'),
        stoppedAt: times(g, 'stopped'),
        startedAt: times(g, 'started'),
      })),
      tasks: this.tasks.all().map(({ upid, type, id, node, user, status, exitstatus }) => ({ upid, type, id, node, user, status, exitstatus })),
    };
  }
}

export interface SimStateDump {
  now: number;
  startedAt: number;
  quorate: boolean;
  ha: { armed: boolean; resourceMode: string; resources: Array<{ sid: string; state: string; crmState: string }> };
  cephFlags: Record<string, boolean>;
  options: Record<string, string | number>;
  /** Cluster-wide events: quorum, HA arm/disarm, Ceph flags, options. */
  events: SimEvent[];
  nodes: Array<{
    name: string;
    state: NodeState;
    online: boolean;
    events: SimEvent[];
    shutdownRequestedAt: number[];
    offlineAt: number[];
  }>;
  guests: Array<{
    vmid: number;
    type: GuestType;
    name: string;
    node: string;
    status: 'running' | 'stopped';
    qmpstatus: string;
    lock?: string;
    hastate?: string;
    events: SimEvent[];
    shutdownRequestedAt: number[];
    stopRequestedAt: number[];
    startRequestedAt: number[];
    stoppedAt: number[];
    startedAt: number[];
  }>;
  tasks: Array<{ upid: string; type: string; id: string; node: string; user: string; status: string; exitstatus?: string }>;
}

/**
 * The event for a power request: `shutdown-requested` etc. for API calls and node shutdowns;
 * the HA LRM carrying out an earlier hastop/hastart logs `ha-shutdown` etc., so the dump counts
 * each client request once.
 */
function requestEvent(kind: 'shutdown' | 'stop' | 'start', via: string): string {
  return via === 'ha' ? `ha-${kind}` : `${kind}-requested`;
}

/** stopall's worker count: min(max(1, threads - 1), 8) since pve-manager 9.1.2, all threads before. */
function defaultMaxWorkers(cpus: number, version: string): number {
  return versionAtLeast(version, '9.1.2') ? Math.min(Math.max(1, cpus - 1), 8) : cpus;
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves when all are done. */
async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
