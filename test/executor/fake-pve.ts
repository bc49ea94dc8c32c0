import type { Clock } from '../../src/core/clock.js';
import type {
  CephFlag,
  ClusterStatus,
  Guest,
  GuestConfig,
  GuestRef,
  GuestStatus,
  GuestType,
  HaResource,
  HaState,
  NodeInfo,
  PveApi,
  ShutdownOptions,
  TaskStatus,
} from '../../src/pve/types.js';

export interface FakeGuestSpec {
  vmid: number;
  node: string;
  type?: GuestType;
  name?: string;
  status?: 'running' | 'stopped';
  /** Time from a graceful shutdown request to stopped; null: the guest ignores ACPI and its agent. */
  shutdownMs?: number | null;
  /** Time from a hard stop to stopped. */
  stopMs?: number;
  /** Hard stops are accepted but the guest never stops (a hung QEMU, a stuck lock). */
  unstoppable?: boolean;
  startMs?: number;
  /** HA resource state, when the guest is an HA resource. */
  ha?: HaState;
}

interface FakeGuest extends Required<Omit<FakeGuestSpec, 'ha' | 'shutdownMs'>> {
  shutdownMs: number | null;
  ha?: HaState;
  hibernated: boolean;
  stoppedAt?: number;
  startedAt?: number;
}

export interface FakeCall {
  at: number;
  method: string;
  vmid?: number;
  node?: string;
  args: unknown[];
}

/**
 * An in-memory Proxmox cluster on a (manual) clock, with the behaviour the executor relies on:
 * guests stop some time after a shutdown (or never, ignoring ACPI), HA-managed guests are
 * stopped through HA (their state turns `stopped`; nothing is applied while HA is frozen; it
 * all needs quorum), overrule-shutdown is refused for HA, calls can be made to fail.
 */
export class FakePve implements PveApi {
  readonly calls: FakeCall[] = [];
  quorate = true;
  readonly nodeInfo: NodeInfo[];
  readonly ceph: Partial<Record<CephFlag, boolean>> = {};
  haFrozen = false;
  /** Highest number of guests shut down at once per node (request sent, not yet stopped). */
  readonly peakInFlight = new Map<string, number>();
  private readonly guestMap = new Map<number, FakeGuest>();
  private readonly inFlight = new Set<number>();
  private readonly failures: Array<{ method: string; vmid?: number; node?: string; left: number; message: string }> = [];
  private upidSeq = 1;
  private readonly lostAnswers = new Map<number, number>();

  constructor(
    private readonly clock: Clock,
    nodes: string[],
    guests: FakeGuestSpec[],
  ) {
    this.nodeInfo = nodes.map((node) => ({ node, online: true }));
    for (const g of guests) {
      this.guestMap.set(g.vmid, {
        vmid: g.vmid,
        node: g.node,
        type: g.type ?? 'qemu',
        name: g.name ?? `guest${g.vmid}`,
        status: g.status ?? 'running',
        shutdownMs: g.shutdownMs === undefined ? 5000 : g.shutdownMs,
        stopMs: g.stopMs ?? 1000,
        unstoppable: g.unstoppable ?? false,
        startMs: g.startMs ?? 1000,
        ha: g.ha,
        hibernated: false,
      });
    }
  }

  /** The next `times` calls of `method` (for one guest or node, when given) fail. */
  fail(method: keyof PveApi, times: number, target: { vmid?: number; node?: string } = {}, message = '500 simulated failure'): void {
    this.failures.push({ method, ...target, left: times, message });
  }

  /**
   * The next `times` shutdown requests for the guest are carried out but their answer is lost,
   * as when a connection drops after Proxmox received the POST: the error says `requestSent`.
   */
  loseShutdownAnswer(vmid: number, times: number): void {
    this.lostAnswers.set(vmid, times);
  }

  guest(vmid: number): FakeGuest {
    const g = this.guestMap.get(vmid);
    if (!g) throw new Error(`no guest ${vmid}`);
    return g;
  }

  callsOf(method: string, vmid?: number): FakeCall[] {
    return this.calls.filter((c) => c.method === method && (vmid === undefined || c.vmid === vmid));
  }

  // ---- PveApi ----

  async version(): Promise<{ version: string; release: string }> {
    this.enter('version', {});
    return { version: '9.2.11', release: '9.2' };
  }

  async clusterStatus(): Promise<ClusterStatus> {
    this.enter('clusterStatus', {});
    return { name: 'fake', quorate: this.quorate, nodes: this.nodeInfo.map((n) => ({ ...n })) };
  }

  async guests(): Promise<Guest[]> {
    this.enter('guests', {});
    return [...this.guestMap.values()].map((g) => ({
      node: g.node,
      type: g.type,
      vmid: g.vmid,
      name: g.name,
      status: g.status,
      tags: [],
      template: false,
      ...(g.ha ? { hastate: g.ha } : {}),
    }));
  }

  async nodes(): Promise<NodeInfo[]> {
    this.enter('nodes', {});
    return this.nodeInfo.map((n) => ({ ...n }));
  }

  async guestStatus(ref: GuestRef): Promise<GuestStatus> {
    const g = this.target('guestStatus', ref, []);
    return {
      status: g.status,
      ...(g.type === 'qemu' ? { qmpstatus: g.status } : {}),
      agent: false,
      ha: { managed: this.haManaged(g), ...(g.ha ? { state: g.ha } : {}) },
    };
  }

  async guestConfig(ref: GuestRef): Promise<GuestConfig> {
    const g = this.target('guestConfig', ref, []);
    return { onboot: false, agent: false, name: g.name, tags: [] };
  }

  async shutdownGuest(ref: GuestRef, opts: ShutdownOptions): Promise<string> {
    const g = this.target('shutdownGuest', ref, [opts]);
    if (this.haManaged(g)) {
      this.needQuorum();
      g.ha = 'stopped';
      // The LRM forces VMs at the timeout; containers are stopped without force.
      const forcedMs = g.type === 'qemu' ? opts.timeoutS * 1000 : null;
      const ms = g.shutdownMs === null ? forcedMs : forcedMs === null ? g.shutdownMs : Math.min(g.shutdownMs, forcedMs);
      if (!this.haFrozen) this.stopAfter(g, ms);
      return this.upid(g, 'hastop');
    }
    if (g.status !== 'running' && g.type === 'lxc') throw new Error(`500 CT ${g.vmid} not running`);
    this.stopAfter(g, g.shutdownMs);
    const lost = this.lostAnswers.get(g.vmid) ?? 0;
    if (lost > 0) {
      this.lostAnswers.set(g.vmid, lost - 1);
      throw Object.assign(new Error('network error: socket hang up'), { requestSent: true });
    }
    return this.upid(g, g.type === 'qemu' ? 'qmshutdown' : 'vzshutdown');
  }

  async stopGuest(ref: GuestRef, opts: { overruleShutdown?: boolean; timeoutS?: number } = {}): Promise<string> {
    const g = this.target('stopGuest', ref, [opts]);
    if (this.haManaged(g)) {
      if (opts.overruleShutdown) throw new Error("400 Parameter verification failed: overrule-shutdown: not allowed for HA-managed guests");
      this.needQuorum();
      g.ha = 'stopped';
      if (!this.haFrozen) this.stopAfter(g, g.unstoppable ? null : g.stopMs);
      return this.upid(g, 'hastop');
    }
    this.stopAfter(g, g.unstoppable ? null : g.stopMs);
    return this.upid(g, g.type === 'qemu' ? 'qmstop' : 'vzstop');
  }

  async hibernateGuest(ref: GuestRef): Promise<string> {
    const g = this.target('hibernateGuest', ref, []);
    if (g.type !== 'qemu') throw new Error('500 hibernation is for VMs only');
    if (this.haManaged(g)) throw new Error('500 cannot suspend HA-managed VM to disk');
    g.hibernated = true;
    this.stopAfter(g, g.shutdownMs ?? 2000);
    return this.upid(g, 'qmsuspend');
  }

  async startGuest(ref: GuestRef): Promise<string> {
    const g = this.target('startGuest', ref, []);
    this.needQuorum();
    if (g.status === 'running') throw new Error(`500 VM ${g.vmid} already running`);
    this.runAfter(g);
    return this.upid(g, g.type === 'qemu' ? 'qmstart' : 'vzstart');
  }

  async taskStatus(upid: string): Promise<TaskStatus> {
    this.enter('taskStatus', { args: [upid] });
    return { upid, node: upid.split(':')[1] ?? '', running: false, exitstatus: 'OK', ok: true };
  }

  async waitTask(upid: string): Promise<TaskStatus> {
    return this.taskStatus(upid);
  }

  async shutdownNode(node: string): Promise<void> {
    this.enter('shutdownNode', { node, args: [node] });
    const info = this.nodeInfo.find((n) => n.node === node);
    if (!info?.online) throw new Error(`595 Connection refused (${node})`);
    this.clock.setTimeout(() => {
      info.online = false;
    }, 5000);
  }

  async wakeNode(node: string): Promise<void> {
    this.enter('wakeNode', { node, args: [node] });
  }

  async haResources(): Promise<HaResource[]> {
    this.enter('haResources', {});
    return [...this.guestMap.values()]
      .filter((g) => g.ha !== undefined)
      .map((g) => ({ sid: `${g.type === 'qemu' ? 'vm' : 'ct'}:${g.vmid}`, state: g.ha! }));
  }

  async setHaState(sid: string, state: HaState): Promise<void> {
    const vmid = Number(sid.split(':')[1]);
    const g = this.target('setHaState', { node: this.guest(vmid).node, type: this.guest(vmid).type, vmid }, [sid, state]);
    this.needQuorum();
    g.ha = state;
    if (this.haFrozen) return;
    if (state === 'started' && g.status === 'stopped') this.runAfter(g);
    if (state === 'stopped' && g.status === 'running') this.stopAfter(g, g.shutdownMs);
  }

  async disarmHa(mode: 'freeze' | 'ignore'): Promise<void> {
    this.enter('disarmHa', { args: [mode] });
    this.needQuorum();
    this.haFrozen = mode === 'freeze';
  }

  async armHa(): Promise<void> {
    this.enter('armHa', {});
    this.needQuorum();
    this.haFrozen = false;
  }

  async cephFlags(): Promise<Partial<Record<CephFlag, boolean>>> {
    this.enter('cephFlags', {});
    return { ...this.ceph };
  }

  async setCephFlags(flags: Partial<Record<CephFlag, boolean>>): Promise<void> {
    this.enter('setCephFlags', { args: [flags] });
    Object.assign(this.ceph, flags);
  }

  async haShutdownPolicy(): Promise<string> {
    this.enter('haShutdownPolicy', {});
    return 'conditional';
  }

  // ---- internals ----

  private haManaged(g: FakeGuest): boolean {
    return g.ha !== undefined && g.ha !== 'ignored';
  }

  private needQuorum(): void {
    if (!this.quorate) throw new Error('500 cluster not ready - no quorum?');
  }

  private enter(method: string, call: { vmid?: number; node?: string; args?: unknown[] }): void {
    this.calls.push({ at: this.clock.now(), method, vmid: call.vmid, node: call.node, args: call.args ?? [] });
    const f = this.failures.find(
      (x) => x.method === method && x.left > 0 && (x.vmid === undefined || x.vmid === call.vmid) && (x.node === undefined || x.node === call.node),
    );
    if (f) {
      f.left--;
      throw new Error(f.message);
    }
  }

  private target(method: string, ref: GuestRef, args: unknown[]): FakeGuest {
    this.enter(method, { vmid: ref.vmid, node: ref.node, args });
    const g = this.guest(ref.vmid);
    if (!this.nodeInfo.find((n) => n.node === g.node)?.online) throw new Error(`595 No route to host (${g.node})`);
    return g;
  }

  private stopAfter(g: FakeGuest, ms: number | null): void {
    if (g.status !== 'running') return;
    this.inFlight.add(g.vmid);
    const count = [...this.inFlight].filter((v) => this.guest(v).node === g.node).length;
    this.peakInFlight.set(g.node, Math.max(this.peakInFlight.get(g.node) ?? 0, count));
    if (ms === null) return;
    this.clock.setTimeout(() => {
      if (g.status !== 'running') return;
      g.status = 'stopped';
      g.stoppedAt = this.clock.now();
      this.inFlight.delete(g.vmid);
    }, ms);
  }

  private runAfter(g: FakeGuest): void {
    this.clock.setTimeout(() => {
      g.status = 'running';
      g.startedAt = this.clock.now();
      g.hibernated = false;
    }, g.startMs);
  }

  private upid(g: FakeGuest, type: string): string {
    const n = (this.upidSeq++).toString(16).toUpperCase().padStart(8, '0');
    return `UPID:${g.node}:${n}:00000000:${Math.floor(this.clock.now() / 1000).toString(16).toUpperCase()}:${type}:${g.vmid}:root@pam:`;
  }
}
