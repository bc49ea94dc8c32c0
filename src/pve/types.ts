/**
 * The Proxmox VE operations pvepower uses, as plain data. `src/pve/client.ts` implements
 * PveApi over HTTPS; the policy engine and the executor depend only on this file, so their
 * tests can use a fake.
 */
export type GuestType = 'qemu' | 'lxc';

export interface GuestRef {
  node: string;
  type: GuestType;
  vmid: number;
}

export interface StartupOrder {
  order?: number;
  /** Seconds to wait after starting (startall). */
  up?: number;
  /** Shutdown timeout in seconds (stopall uses it as the guest's timeout). */
  down?: number;
}

/** A guest as listed by GET /cluster/resources?type=vm (plus startup, when config was read). */
export interface Guest extends GuestRef {
  name: string;
  /** running | stopped | paused | suspended | unknown … (cluster/resources is ~10 s stale). */
  status: string;
  tags: string[];
  pool?: string;
  template: boolean;
  lock?: string;
  /** HA service state (started, stopped, …) when the guest is an HA resource. */
  hastate?: string;
  startup?: StartupOrder;
}

export interface NodeInfo {
  node: string;
  online: boolean;
  /** True for the node that answered the API call (GET /cluster/status `local`). */
  local?: boolean;
  ip?: string;
  /** True when the node runs a Ceph monitor. */
  cephMon?: boolean;
  /** SHA-256 fingerprint of the node's certificate, PVE format (AB:CD:…). */
  sslFingerprint?: string;
}

export interface ClusterStatus {
  /** Cluster name; undefined on a standalone node. */
  name?: string;
  quorate: boolean;
  nodes: NodeInfo[];
}

/** GET …/status/current */
export interface GuestStatus {
  status: string;
  qmpstatus?: string;
  lock?: string;
  /** QEMU guest agent configured. */
  agent: boolean;
  ha: { managed: boolean; state?: string };
}

/** GET …/config, the parts pvepower uses. */
export interface GuestConfig {
  startup?: StartupOrder;
  onboot: boolean;
  agent: boolean;
  name?: string;
  tags: string[];
}

export interface TaskStatus {
  upid: string;
  node: string;
  running: boolean;
  /** Present when stopped: OK, `WARNINGS: n`, or the error text. */
  exitstatus?: string;
  /** True when stopped with OK or WARNINGS. */
  ok: boolean;
}

export type HaState = 'started' | 'stopped' | 'disabled' | 'ignored';

export interface HaResource {
  /** `vm:100` or `ct:101` */
  sid: string;
  state: string;
  group?: string;
}

export type CephFlag = 'noout' | 'norecover' | 'norebalance' | 'nobackfill' | 'nodown' | 'pause';

export interface ShutdownOptions {
  /** Seconds PVE waits before the task fails or, with forceStop, kills the guest. */
  timeoutS: number;
  forceStop: boolean;
}

export interface PveApi {
  version(): Promise<{ version: string; release: string }>;
  clusterStatus(): Promise<ClusterStatus>;
  /** Guests of the whole cluster (templates included; callers filter). */
  guests(): Promise<Guest[]>;
  nodes(): Promise<NodeInfo[]>;
  guestStatus(g: GuestRef): Promise<GuestStatus>;
  guestConfig(g: GuestRef): Promise<GuestConfig>;
  /** Returns the task's UPID. HA-managed guests: the task ends when queued (poll guestStatus). */
  shutdownGuest(g: GuestRef, opts: ShutdownOptions): Promise<string>;
  /** Hard stop; `overruleShutdown` aborts a running shutdown task first. */
  stopGuest(g: GuestRef, opts?: { overruleShutdown?: boolean; timeoutS?: number }): Promise<string>;
  /** qemu only: suspend to disk. */
  hibernateGuest(g: GuestRef): Promise<string>;
  startGuest(g: GuestRef): Promise<string>;
  taskStatus(upid: string): Promise<TaskStatus>;
  /** Polls taskStatus (on the node the UPID names) until stopped or the timeout. */
  waitTask(upid: string, opts?: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal }): Promise<TaskStatus>;
  /** POST /nodes/{n}/status command=shutdown */
  shutdownNode(node: string): Promise<void>;
  wakeNode(node: string): Promise<void>;
  haResources(): Promise<HaResource[]>;
  setHaState(sid: string, state: HaState): Promise<void>;
  /** PVE >= 9.2: release HA watchdogs cluster-wide. */
  disarmHa(mode: 'freeze' | 'ignore'): Promise<void>;
  armHa(): Promise<void>;
  cephFlags(): Promise<Partial<Record<CephFlag, boolean>>>;
  setCephFlags(flags: Partial<Record<CephFlag, boolean>>): Promise<void>;
  /** GET /cluster/options `ha.shutdown_policy` (conditional when unset). */
  haShutdownPolicy(): Promise<string>;
}
