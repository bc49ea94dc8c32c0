import type { Proxmox } from 'proxmox-api';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import {
  CephNotInstalledError,
  GuestStateError,
  NetworkError,
  PveError,
  TaskTimeoutError,
  TimeoutError,
} from './errors.js';
import { PveHttp, type PveConnectionOptions } from './http.js';
import { parseAgent, parseStartup, parseUpid, pveBool, splitTags, taskSucceeded } from './parse.js';
import type {
  CephFlag,
  ClusterStatus,
  Guest,
  GuestConfig,
  GuestRef,
  GuestStatus,
  HaResource,
  HaState,
  NodeInfo,
  PveApi,
  ShutdownOptions,
  TaskStatus,
} from './types.js';

export type PveClientOptions = PveConnectionOptions;

const CEPH_FLAGS: readonly CephFlag[] = ['noout', 'norecover', 'norebalance', 'nobackfill', 'nodown', 'pause'];

type PowerAction = 'shutdown' | 'stop' | 'hibernate' | 'start';

/** Task types a power action leaves in the node's task log (HA guests: the CRM command task). */
const ACTION_TASKS: Record<PowerAction, Record<GuestRef['type'], readonly string[]>> = {
  shutdown: { qemu: ['qmshutdown', 'hastop'], lxc: ['vzshutdown', 'hastop'] },
  stop: { qemu: ['qmstop', 'hastop'], lxc: ['vzstop', 'hastop'] },
  hibernate: { qemu: ['qmsuspend'], lxc: [] },
  start: { qemu: ['qmstart', 'hastart'], lxc: ['vzstart', 'hastart'] },
};

const ACTION_TARGET: Record<PowerAction, 'stopped' | 'running'> = {
  shutdown: 'stopped',
  stop: 'stopped',
  hibernate: 'stopped',
  start: 'running',
};

/** Tolerance between this host's clock and the node's when matching a task to our request. */
const TASK_CLOCK_SLACK_S = 5;

/** LXC `overrule-shutdown` (PVE 8.1): missing from proxmox-api's typings. */
interface LxcStop {
  $post(param: { 'overrule-shutdown'?: boolean }): Promise<string>;
}

/** PVE 9.2 HA disarm/arm: not in proxmox-api's PVE 8 typings. */
interface HaStatusArming {
  'disarm-ha': { $post(param: { 'resource-mode': 'freeze' | 'ignore' }): Promise<null> };
  'arm-ha': { $post(): Promise<null> };
}

function label(g: GuestRef): string {
  return `${g.type === 'qemu' ? 'VM' : 'CT'} ${g.vmid} on ${g.node}`;
}

/** Transport failures after which PVE may or may not have run the request. */
function mayHaveRun(err: unknown): err is NetworkError | TimeoutError {
  return (err instanceof NetworkError || err instanceof TimeoutError) && err.requestSent;
}

function upidOf(data: unknown, what: string): string {
  if (typeof data !== 'string') throw new PveError(`${what}: PVE returned no task id (got ${JSON.stringify(data)})`);
  return data;
}

/**
 * PveApi over the Proxmox VE HTTPS API (see proxmox.md §2 for each endpoint's semantics).
 * Reads are retried by the transport; power actions are never repeated without first checking
 * what PVE did with the first request.
 */
export class PveClient implements PveApi {
  readonly http: PveHttp;
  private readonly api: Proxmox.Api;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(opts: PveClientOptions) {
    this.http = new PveHttp(opts);
    this.api = this.http.api;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger();
  }

  close(): Promise<void> {
    return this.http.close();
  }

  async version(): Promise<{ version: string; release: string }> {
    const v = await this.api.version.$get();
    return { version: v.version, release: v.release };
  }

  async clusterStatus(): Promise<ClusterStatus> {
    const [status, list] = await Promise.all([this.api.cluster.status.$get(), this.api.nodes.$get()]);
    const byName = new Map<string, NodeInfo>();
    for (const e of status) {
      if (e.type !== 'node') continue;
      byName.set(e.name, { node: e.name, online: pveBool(e.online), local: pveBool(e.local), ip: e.ip });
    }
    for (const n of list) {
      const info = byName.get(n.node) ?? { node: n.node, online: n.status === 'online' };
      info.sslFingerprint = n.ssl_fingerprint;
      byName.set(n.node, info);
    }
    const nodes = [...byName.values()].sort((a, b) => a.node.localeCompare(b.node));
    await this.markCephMons(nodes);
    const cluster = status.find((e) => e.type === 'cluster');
    // A standalone node has no cluster entry; its pmxcfs runs in local mode and is always writable.
    return { name: cluster?.name, quorate: cluster ? pveBool(cluster.quorate) : true, nodes };
  }

  async nodes(): Promise<NodeInfo[]> {
    return (await this.clusterStatus()).nodes;
  }

  /**
   * Sets `cephMon` from a node's view of the Ceph monitor list. Asks the local node first, then
   * the other online ones (a node without the Ceph packages cannot answer). Without Ceph anywhere
   * every node gets false; when no node answers for another reason it stays unknown.
   */
  private async markCephMons(nodes: NodeInfo[]): Promise<void> {
    const askable = nodes.filter((n) => n.online).sort((a, b) => Number(b.local ?? false) - Number(a.local ?? false));
    let lastError: unknown;
    let cephMissing = askable.length > 0;
    for (const asked of askable) {
      try {
        const mons = await this.api.nodes.$(asked.node).ceph.mon.$get();
        const hosts = new Set(
          mons.map((m) => {
            const host: unknown = m.host;
            return typeof host === 'string' && host ? host : m.name;
          }),
        );
        for (const n of nodes) n.cephMon = hosts.has(n.node);
        return;
      } catch (err) {
        lastError = err;
        if (!(err instanceof CephNotInstalledError)) cephMissing = false;
        // /etc/pve/ceph.conf is cluster-wide: when it is missing, no other node will answer either.
        else if (/not initialized/.test(err.pveMessage ?? '')) break;
      }
    }
    if (cephMissing) {
      for (const n of nodes) n.cephMon = false;
    } else if (lastError) {
      this.logger.warn('Ceph monitor list unavailable; cephMon unknown', {
        error: lastError instanceof Error ? lastError.message : String(lastError),
      });
    }
  }

  async guests(): Promise<Guest[]> {
    const resources = await this.api.cluster.resources.$get({ type: 'vm' });
    const out: Guest[] = [];
    for (const r of resources) {
      if ((r.type !== 'qemu' && r.type !== 'lxc') || r.node === undefined || r.vmid === undefined) continue;
      out.push({
        node: r.node,
        type: r.type,
        vmid: r.vmid,
        name: r.name ?? '',
        status: r.status ?? 'unknown',
        tags: splitTags(r.tags),
        pool: r.pool,
        template: pveBool(r.template),
        lock: r.lock,
        hastate: r.hastate,
      });
    }
    return out;
  }

  private guest(g: GuestRef) {
    return g.type === 'qemu' ? this.api.nodes.$(g.node).qemu.$(g.vmid) : this.api.nodes.$(g.node).lxc.$(g.vmid);
  }

  async guestStatus(g: GuestRef): Promise<GuestStatus> {
    const s = (await this.guest(g).status.current.$get()) as {
      status: string;
      qmpstatus?: string;
      lock?: string;
      agent?: unknown;
      ha?: { managed?: unknown; state?: string };
    };
    return {
      status: s.status,
      qmpstatus: s.qmpstatus,
      lock: s.lock,
      agent: pveBool(s.agent),
      ha: { managed: pveBool(s.ha?.managed), state: s.ha?.state },
    };
  }

  async guestConfig(g: GuestRef): Promise<GuestConfig> {
    const c = (await this.guest(g).config.$get()) as Record<string, unknown>;
    const name = typeof c.name === 'string' ? c.name : typeof c.hostname === 'string' ? c.hostname : undefined;
    return {
      startup: parseStartup(c.startup),
      onboot: pveBool(c.onboot),
      agent: g.type === 'qemu' && parseAgent(c.agent),
      name,
      tags: splitTags(c.tags),
    };
  }

  shutdownGuest(g: GuestRef, opts: ShutdownOptions): Promise<string> {
    return this.powerAction(g, 'shutdown', () =>
      this.guest(g).status.shutdown.$post({ timeout: opts.timeoutS, forceStop: opts.forceStop }),
    );
  }

  async stopGuest(g: GuestRef, opts: { overruleShutdown?: boolean; timeoutS?: number } = {}): Promise<string> {
    let overrule = opts.overruleShutdown === true;
    // PVE refuses overrule-shutdown for HA resources; their stop is a CRM command anyway.
    if (overrule && (await this.guestStatus(g)).ha.managed) {
      this.logger.info(`${label(g)} is HA-managed: stopping without overrule-shutdown`);
      overrule = false;
    }
    const params = { 'overrule-shutdown': overrule ? true : undefined };
    return this.powerAction(g, 'stop', () =>
      g.type === 'qemu'
        ? this.api.nodes.$(g.node).qemu.$(g.vmid).status.stop.$post({ ...params, timeout: opts.timeoutS })
        : // LXC stop has no timeout parameter: lxc-stop kills at once.
          (this.api.nodes.$(g.node).lxc.$(g.vmid).status.stop as unknown as LxcStop).$post(params),
    );
  }

  hibernateGuest(g: GuestRef): Promise<string> {
    if (g.type !== 'qemu') {
      return Promise.reject(new PveError(`${label(g)}: only VMs can hibernate (suspend to disk), not containers`));
    }
    return this.powerAction(g, 'hibernate', () =>
      this.api.nodes.$(g.node).qemu.$(g.vmid).status.suspend.$post({ todisk: true }),
    );
  }

  startGuest(g: GuestRef): Promise<string> {
    return this.powerAction(g, 'start', () => this.guest(g).status.start.$post({}));
  }

  /**
   * POSTs a power action. When the answer is lost after the request was sent (timeout, reset),
   * PVE may have started the task, so the POST is not simply repeated: the guest's status and its
   * task log decide. A matching task (ours, or one already under way) is returned for the caller
   * to wait on; a guest already in the target state ends in GuestStateError; only when neither
   * shows is the POST sent once more. If the check itself fails, the original error is thrown.
   */
  private async powerAction(g: GuestRef, action: PowerAction, post: () => Promise<unknown>): Promise<string> {
    const what = `${action} of ${label(g)}`;
    const since = Math.floor(this.clock.now() / 1000) - TASK_CLOCK_SLACK_S;
    try {
      return upidOf(await post(), what);
    } catch (err) {
      if (!mayHaveRun(err) || this.http.closed) throw err;
      this.logger.warn(`${what}: no answer, checking what PVE did before retrying`, { error: err.message });
      let status: GuestStatus;
      let task: string | undefined;
      try {
        [status, task] = await Promise.all([this.guestStatus(g), this.findTask(g, action, since)]);
      } catch (checkErr) {
        this.logger.error(`${what}: cannot verify the outcome, not repeating it`, {
          error: checkErr instanceof Error ? checkErr.message : String(checkErr),
        });
        throw err;
      }
      if (task) {
        this.logger.info(`${what}: PVE has the task, following it`, { upid: task });
        return task;
      }
      const target = ACTION_TARGET[action];
      if (status.status === target) {
        throw new GuestStateError(`${what}: the guest is already ${target}`, { state: target });
      }
      this.logger.info(`${what}: PVE has no such task and the guest is ${status.status}; sending it again`);
      return upidOf(await post(), what);
    }
  }

  /** Newest task for this guest and action started since `since` (epoch s), from the node's log. */
  private async findTask(g: GuestRef, action: PowerAction, since: number): Promise<string | undefined> {
    const types = ACTION_TASKS[action][g.type];
    const tasks = await this.api.nodes.$(g.node).tasks.$get({ vmid: g.vmid, since, source: 'all' });
    return tasks
      .filter((t) => types.includes(t.type) && t.starttime >= since)
      .sort((a, b) => b.starttime - a.starttime)[0]?.upid;
  }

  async taskStatus(upid: string): Promise<TaskStatus> {
    const { node } = parseUpid(upid);
    const t = await this.api.nodes.$(node).tasks.$(upid).status.$get();
    const running = t.status === 'running';
    return { upid, node, running, exitstatus: t.exitstatus, ok: !running && taskSucceeded(t.exitstatus) };
  }

  async waitTask(
    upid: string,
    opts: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal } = {},
  ): Promise<TaskStatus> {
    const pollMs = opts.pollMs ?? 1000;
    const deadline = opts.timeoutMs === undefined ? Infinity : this.clock.now() + opts.timeoutMs;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.http.closedSignal]) : this.http.closedSignal;
    for (;;) {
      signal.throwIfAborted();
      const status = await this.taskStatus(upid);
      if (!status.running) return status;
      const left = deadline - this.clock.now();
      if (left <= 0) throw new TaskTimeoutError(upid, opts.timeoutMs!);
      await this.clock.sleep(Math.min(pollMs, left), signal);
    }
  }

  async shutdownNode(node: string): Promise<void> {
    await this.api.nodes.$(node).status.$post({ command: 'shutdown' });
  }

  async wakeNode(node: string): Promise<void> {
    await this.api.nodes.$(node).wakeonlan.$post();
  }

  async haResources(): Promise<HaResource[]> {
    const list = (await this.api.cluster.ha.resources.$get()) as Array<{ sid: string; state?: string; group?: string }>;
    // `state` is omitted from the config when it has its default, started.
    return list.map((r) => ({ sid: r.sid, state: r.state ?? 'started', group: r.group }));
  }

  async setHaState(sid: string, state: HaState): Promise<void> {
    await this.api.cluster.ha.resources.$(sid).$put({ state });
  }

  async disarmHa(mode: 'freeze' | 'ignore'): Promise<void> {
    await (this.api.cluster.ha.status as unknown as HaStatusArming)['disarm-ha'].$post({ 'resource-mode': mode });
  }

  async armHa(): Promise<void> {
    await (this.api.cluster.ha.status as unknown as HaStatusArming)['arm-ha'].$post();
  }

  async cephFlags(): Promise<Partial<Record<CephFlag, boolean>>> {
    const flags = await this.api.cluster.ceph.flags.$get();
    const out: Partial<Record<CephFlag, boolean>> = {};
    for (const f of flags) {
      if ((CEPH_FLAGS as readonly string[]).includes(f.name)) out[f.name as CephFlag] = pveBool(f.value);
    }
    return out;
  }

  /** One synchronous PUT per flag (the bulk PUT returns a task to wait for instead). */
  async setCephFlags(flags: Partial<Record<CephFlag, boolean>>): Promise<void> {
    for (const [flag, value] of Object.entries(flags) as Array<[CephFlag, boolean | undefined]>) {
      if (value === undefined) continue;
      await this.api.cluster.ceph.flags.$(flag).$put({ value });
    }
  }

  async haShutdownPolicy(): Promise<string> {
    const options = (await this.api.cluster.options.$get()) as { ha?: unknown };
    const ha = options.ha;
    // Parsed datacenter.cfg gives an object; accept the raw property string (`shutdown_policy=freeze`) too.
    const policy =
      typeof ha === 'string'
        ? /(?:^|,)shutdown_policy=([^,]+)/.exec(ha)?.[1]
        : (ha as { shutdown_policy?: string } | undefined)?.shutdown_policy;
    return policy ?? 'conditional';
  }
}
