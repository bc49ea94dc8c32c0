import { createHash } from 'node:crypto';
import type { AuthStore, Principal } from './auth.js';
import { ROOT_USER, versionAtLeast, type GuestType, type SimCluster, type SimGuest, type SimHaResource } from './cluster.js';
import { CEPH_FLAGS, ENDPOINTS, type CephFlagName } from './endpoints.js';
import { ApiError, paramError, permError, serverError } from './errors.js';
import { decodeUpid } from './tasks.js';
import { asBool } from './validate.js';

/**
 * What the simulator answers for each implemented endpoint, keyed `METHOD template` exactly as
 * the endpoint table (endpoints.ts) lists them. Handlers get validated parameters; they throw
 * ApiError for the synchronous failures PVE reports as HTTP errors.
 */
export interface HandlerContext {
  cluster: SimCluster;
  auth: AuthStore;
  /** Undefined only for the login call. */
  principal?: Principal;
  params: Record<string, unknown>;
  /** The node certificate's SHA-256 fingerprint (GET /nodes `ssl_fingerprint`). */
  fingerprint: string;
}

export interface Route {
  handler: (ctx: HandlerContext) => unknown;
  /** pve-manager version that introduced the endpoint; older scenarios answer 501. */
  since?: string;
  /** Parameters newer than the endpoint; older scenarios reject them as unknown. */
  paramsSince?: Record<string, string>;
}

const OPTION_PARAMS = ENDPOINTS.find((e) => e.method === 'PUT' && e.path === '/cluster/options')!.params;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const who = (ctx: HandlerContext): Principal => ctx.principal!;
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));

function guestOf(ctx: HandlerContext, type: GuestType): SimGuest {
  return ctx.cluster.guestOn(String(ctx.params.node), type, Number(ctx.params.vmid));
}

/** skiplock / keepActive: `Only root may use this option.` for everyone but root@pam. */
function rootOnly(ctx: HandlerContext, ...names: string[]): void {
  const errors: Record<string, string> = {};
  for (const n of names) if (asBool(ctx.params[n]) && who(ctx).userid !== ROOT_USER) errors[n] = 'Only root may use this option.';
  if (Object.keys(errors).length > 0) throw paramError(errors);
}

function canAudit(ctx: HandlerContext, g: SimGuest): boolean {
  return ctx.auth.has(who(ctx), `/vms/${g.vmid}`, 'VM.Audit');
}

function uptime(ctx: HandlerContext, since: number | undefined): number {
  return since === undefined ? 0 : Math.floor((ctx.cluster.now() - since) / 1000);
}

function haState(ctx: HandlerContext, g: SimGuest): string | undefined {
  return ctx.cluster.haManaged(g) ? ctx.cluster.haResourceOf(g)!.crmState : undefined;
}

function guestStats(ctx: HandlerContext, g: SimGuest) {
  const maxmem = g.memoryMiB * MiB;
  return {
    uptime: g.running ? uptime(ctx, g.startedAt) : 0,
    cpu: g.running ? 0.03 : 0,
    cpus: g.cores,
    maxcpu: g.cores,
    mem: g.running ? Math.floor(maxmem * 0.4) : 0,
    maxmem,
    // PVE reports no disk usage for VMs; containers know their rootfs.
    disk: g.type === 'lxc' && g.running ? Math.floor(g.diskGiB * GiB * 0.3) : 0,
    maxdisk: g.diskGiB * GiB,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
  };
}

/** Optional members only when set, as PVE omits undefined ones. */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function guestListItem(ctx: HandlerContext, g: SimGuest, full: boolean) {
  const s = guestStats(ctx, g);
  return defined({
    vmid: g.vmid,
    name: g.name,
    status: g.running ? 'running' : 'stopped',
    type: g.type === 'lxc' ? 'lxc' : undefined,
    pid: g.pid,
    uptime: s.uptime,
    cpu: s.cpu,
    cpus: s.cpus,
    mem: s.mem,
    maxmem: s.maxmem,
    disk: s.disk,
    maxdisk: s.maxdisk,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
    tags: g.tags.length > 0 ? g.tags.join(';') : undefined,
    lock: g.lock,
    template: g.template ? 1 : undefined,
    qmpstatus: full && g.type === 'qemu' ? ctx.cluster.qmpStatus(g) : undefined,
  });
}

function guestStatus(ctx: HandlerContext, type: GuestType) {
  const g = guestOf(ctx, type);
  const res = ctx.cluster.haResourceOf(g);
  const s = guestStats(ctx, g);
  return defined({
    vmid: g.vmid,
    name: g.name,
    status: g.running ? 'running' : 'stopped',
    qmpstatus: type === 'qemu' ? ctx.cluster.qmpStatus(g) : undefined,
    pid: g.pid,
    ...s,
    lock: g.lock,
    tags: g.tags.length > 0 ? g.tags.join(';') : undefined,
    template: g.template ? 1 : undefined,
    agent: type === 'qemu' && g.agent ? 1 : undefined,
    ha: ctx.cluster.haManaged(g) ? defined({ managed: 1, state: res!.crmState, group: res!.group }) : { managed: 0 },
  });
}

function guestConfig(ctx: HandlerContext, type: GuestType) {
  const g = guestOf(ctx, type);
  const snapshot = str(ctx.params.snapshot);
  if (snapshot !== undefined) throw serverError(`snapshot '${snapshot}' does not exist`);
  const common = {
    cores: g.cores,
    memory: g.memoryMiB,
    onboot: g.onboot ? 1 : undefined,
    startup: g.startup,
    tags: g.tags.length > 0 ? g.tags.join(';') : undefined,
    lock: g.lock,
    template: g.template ? 1 : undefined,
  };
  const conf =
    type === 'qemu'
      ? defined({
          name: g.name,
          ...common,
          sockets: 1,
          ostype: 'l26',
          agent: g.agent ? '1' : undefined,
          boot: 'order=scsi0;net0',
          scsihw: 'virtio-scsi-single',
          scsi0: `local-lvm:vm-${g.vmid}-disk-0,iothread=1,size=${g.diskGiB}G`,
          net0: `virtio=BC:24:11:${macTail(g.vmid)},bridge=vmbr0`,
        })
      : defined({
          hostname: g.name,
          ...common,
          swap: 512,
          arch: 'amd64',
          ostype: 'debian',
          rootfs: `local-lvm:vm-${g.vmid}-disk-0,size=${g.diskGiB}G`,
          net0: `name=eth0,bridge=vmbr0,hwaddr=BC:24:11:${macTail(g.vmid)},ip=dhcp,type=veth`,
        });
  return { ...conf, digest: createHash('sha1').update(JSON.stringify(conf)).digest('hex') };
}

function macTail(vmid: number): string {
  return [(vmid >> 16) & 0xff, (vmid >> 8) & 0xff, vmid & 0xff].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
}

function shutdown(type: GuestType) {
  return (ctx: HandlerContext) => {
    rootOnly(ctx, 'skiplock', 'keepActive');
    return ctx.cluster.shutdownGuest(
      guestOf(ctx, type),
      { timeoutS: num(ctx.params.timeout), forceStop: asBool(ctx.params.forceStop), skiplock: asBool(ctx.params.skiplock) },
      who(ctx).userid,
    );
  };
}

function stop(type: GuestType) {
  return (ctx: HandlerContext) => {
    rootOnly(ctx, 'skiplock', 'keepActive');
    return ctx.cluster.stopGuest(
      guestOf(ctx, type),
      { overrule: asBool(ctx.params['overrule-shutdown']), skiplock: asBool(ctx.params.skiplock) },
      who(ctx).userid,
    );
  };
}

function start(type: GuestType) {
  return (ctx: HandlerContext) => {
    rootOnly(ctx, 'skiplock');
    return ctx.cluster.startGuest(guestOf(ctx, type), { skiplock: asBool(ctx.params.skiplock) }, who(ctx).userid);
  };
}

/** `vm:100`, `ct:101`, or a bare VMID (resolved by the guest's type), as PVE's parse_sid. */
function haResource(ctx: HandlerContext): SimHaResource {
  const raw = String(ctx.params.sid);
  let sid = raw;
  if (/^\d+$/.test(raw)) {
    const g = ctx.cluster.guests.get(Number(raw));
    if (!g) throw serverError(`unable to find VM/CT ${raw}`);
    sid = `${g.type === 'qemu' ? 'vm' : 'ct'}:${raw}`;
  }
  const res = ctx.cluster.haResources.get(sid);
  if (!res) throw serverError(`no such resource '${sid}'`);
  return res;
}

function haResourceView(res: SimHaResource) {
  const { sid, type, state, group, comment } = res;
  const conf = defined({ sid, type, state, group, comment, failback: 1, max_restart: 1, max_relocate: 1 });
  return { ...conf, digest: createHash('sha1').update(JSON.stringify(conf)).digest('hex') };
}

/** The HA manager's view (GET /cluster/ha/status/current). */
function haStatus(ctx: HandlerContext) {
  const c = ctx.cluster;
  const now = c.now();
  const stamp = Math.floor(now / 1000);
  const date = new Date(now).toISOString().replace('T', ' ').slice(0, 19);
  const online = [...c.nodes.values()].filter((n) => c.isOnline(n));
  const master = c.isOnline(c.localNode) ? c.localNode : online.sort((a, b) => a.nodeid - b.nodeid)[0];
  const out: Array<Record<string, unknown>> = [];
  const masterName = master?.name ?? c.localNode.name;
  out.push({
    id: 'quorum',
    type: 'quorum',
    node: masterName,
    status: c.isQuorate() ? 'OK' : `No quorum on node '${masterName}'!`,
    quorate: c.isQuorate() ? 1 : 0,
  });
  if (master) out.push({ id: 'master', type: 'master', node: master.name, status: `${master.name} (active, ${date})`, timestamp: stamp });
  if (versionAtLeast(c.version, '9.2')) {
    out.push(
      defined({
        id: 'fencing',
        type: 'fencing',
        node: masterName,
        status: c.haArmed ? 'armed' : 'disarmed',
        'armed-state': c.haArmed ? 'armed' : 'disarmed',
        resource_mode: c.haArmed ? undefined : c.haResourceMode,
      }),
    );
  }
  for (const n of c.nodes.values()) {
    const services = [...c.haResources.values()].filter((r) => r.state !== 'ignored' && c.guests.get(r.vmid)!.node === n.name);
    const mode = !c.isOnline(n)
      ? 'old timestamp - dead?'
      : !c.isQuorate()
        ? 'wait_for_agent_lock'
        : services.length > 0 && c.haArmed
          ? 'active'
          : 'idle';
    out.push({ id: `lrm:${n.name}`, type: 'lrm', node: n.name, status: `${n.name} (${mode}, ${date})`, timestamp: stamp });
  }
  for (const r of c.haResources.values()) {
    const g = c.guests.get(r.vmid)!;
    out.push({
      id: `service:${r.sid}`,
      type: 'service',
      sid: r.sid,
      node: g.node,
      state: r.state === 'ignored' ? 'ignored' : r.crmState,
      crm_state: r.crmState,
      request_state: r.state,
      status: `${r.sid} (${g.node}, ${r.state === 'ignored' ? 'ignored' : r.crmState})`,
      max_restart: 1,
      max_relocate: 1,
      failback: 1,
    });
  }
  return out;
}

/** PVE's task status classes for statusfilter: OK, WARNINGS: n, a vanished worker, or an error. */
function statusClass(exitstatus: string): string {
  if (exitstatus === 'OK') return 'ok';
  if (exitstatus.startsWith('WARNINGS')) return 'warning';
  if (exitstatus === 'unexpected status') return 'unknown';
  return 'error';
}

/** GET /nodes/{n}/tasks: newest first; finished (archive), running (active) or both. */
function taskList(ctx: HandlerContext) {
  const p = ctx.params;
  const node = String(p.node);
  const auditor = ctx.auth.has(who(ctx), `/nodes/${node}`, 'Sys.Audit');
  const source = str(p.source) ?? 'archive';
  const classes = str(p.statusfilter)?.toLowerCase().split(/[,;\s]+/).filter(Boolean);
  const since = num(p.since);
  const until = num(p.until);
  const tasks = ctx.cluster.tasks
    .all()
    .filter((t) => t.node === node && (auditor || t.user === who(ctx).userid))
    .filter((t) => (t.status === 'running' ? source !== 'archive' : source !== 'active'))
    .filter((t) => (since === undefined || t.starttime >= since) && (until === undefined || t.starttime <= until))
    .filter((t) => p.vmid === undefined || t.id === String(p.vmid))
    .filter((t) => p.typefilter === undefined || t.type === p.typefilter)
    .filter((t) => p.userfilter === undefined || t.user.toLowerCase().includes(String(p.userfilter).toLowerCase()))
    .filter((t) => !asBool(p.errors) || (t.exitstatus !== undefined && t.exitstatus !== 'OK'))
    .filter((t) => !classes || (t.exitstatus !== undefined && classes.includes(statusClass(t.exitstatus))))
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
  const start = num(p.start) ?? 0;
  return tasks.slice(start, start + (num(p.limit) || 50)).map((t) =>
    defined({
      upid: t.upid,
      node: t.node,
      pid: t.pid,
      pstart: t.pstart,
      starttime: t.starttime,
      endtime: t.endtime,
      type: t.type,
      id: t.id,
      user: t.user,
      status: t.status === 'running' ? 'RUNNING' : t.exitstatus,
    }),
  );
}

/** The login response's `cap`: privileges by GUI category, as the web UI reads them. */
const CAP_CATEGORIES: Array<[string, string, RegExp]> = [
  ['vms', '/vms', /^VM\./],
  ['storage', '/storage', /^Datastore\./],
  ['nodes', '/nodes', /^Sys\./],
  ['dc', '/', /^(Sys\.(Audit|Modify)|SDN\.)/],
  ['access', '/access', /^(User|Group|Permissions|Realm)\./],
  ['sdn', '/sdn', /^SDN\./],
];

const ALL_PRIVS = [
  'VM.Audit', 'VM.PowerMgmt', 'VM.Config.Disk', 'VM.Console', 'VM.Allocate', 'Datastore.Audit',
  'Datastore.AllocateSpace', 'Sys.Audit', 'Sys.Modify', 'Sys.PowerMgmt', 'Sys.Console', 'Pool.Audit',
  'User.Modify', 'Group.Allocate', 'Permissions.Modify', 'Realm.Allocate', 'SDN.Audit', 'SDN.Use',
];

function capabilities(ctx: HandlerContext, p: Principal): Record<string, Record<string, number>> {
  const cap: Record<string, Record<string, number>> = {};
  for (const [category, path, re] of CAP_CATEGORIES) {
    const held = ctx.auth.privileges(p, path);
    const privs = held === 'all' ? ALL_PRIVS : [...held];
    cap[category] = Object.fromEntries(privs.filter((x) => re.test(x)).map((x) => [x, 1]));
  }
  return cap;
}

export const ROUTES: Record<string, Route> = {
  'GET /version': {
    handler: (ctx) => {
      const v = ctx.cluster.version;
      return defined({
        version: v,
        release: v.split('.').slice(0, 2).join('.'),
        repoid: createHash('sha1').update(v).digest('hex').slice(0, 8),
        console: str(ctx.cluster.options.get('console')),
      });
    },
  },

  'POST /access/ticket': {
    handler: (ctx) => {
      const { userid, ticket, csrf } = ctx.auth.login(String(ctx.params.username), String(ctx.params.password), str(ctx.params.realm));
      const principal: Principal = { userid, user: userid };
      const path = str(ctx.params.path);
      if (path !== undefined) {
        // Privilege verification mode: only answers whether the user holds them.
        for (const priv of String(ctx.params.privs).split(/[,;\s]+/).filter(Boolean)) {
          if (!ctx.auth.has(principal, path, priv)) throw new ApiError(401, 'authentication failure\n');
        }
        return { username: userid };
      }
      return defined({ username: userid, ticket, CSRFPreventionToken: csrf, clustername: ctx.cluster.name, cap: capabilities(ctx, principal) });
    },
  },

  'GET /cluster/status': {
    handler: (ctx) => {
      const c = ctx.cluster;
      const nodes = [...c.nodes.values()].map((n) => ({
        type: 'node',
        id: `node/${n.name}`,
        name: n.name,
        nodeid: n.nodeid,
        ip: n.ip,
        local: n.local ? 1 : 0,
        online: c.isOnline(n) ? 1 : 0,
        level: '',
      }));
      if (!c.name) return nodes;
      // `version` is corosync's config_version: one per node added.
      const cluster = { type: 'cluster', id: 'cluster', name: c.name, nodes: nodes.length, version: nodes.length + 1, quorate: c.isQuorate() ? 1 : 0 };
      return [cluster, ...nodes];
    },
  },

  'GET /cluster/resources': {
    handler: (ctx) => {
      const c = ctx.cluster;
      const type = str(ctx.params.type);
      const out: Array<Record<string, unknown>> = [];
      if (type === undefined || type === 'vm') {
        for (const g of c.guests.values()) {
          if (!canAudit(ctx, g)) continue;
          const pool = g.pool && ctx.auth.has(who(ctx), `/pool/${g.pool}`, 'Pool.Audit') ? g.pool : undefined;
          out.push(
            defined({
              id: `${g.type}/${g.vmid}`,
              type: g.type,
              vmid: g.vmid,
              node: g.node,
              name: g.name,
              status: c.reportedStatus(g),
              template: g.template ? 1 : 0,
              tags: g.tags.length > 0 ? g.tags.join(';') : undefined,
              lock: g.lock,
              pool,
              hastate: haState(ctx, g),
              ...guestStats(ctx, g),
            }),
          );
        }
      }
      if (type === undefined || type === 'node') {
        for (const n of c.nodes.values()) {
          const online = c.isOnline(n);
          const stats = online && ctx.auth.has(who(ctx), `/nodes/${n.name}`, 'Sys.Audit');
          out.push(
            defined({
              id: `node/${n.name}`,
              type: 'node',
              node: n.name,
              status: online ? 'online' : 'offline',
              level: '',
              maxcpu: stats ? n.cpus : undefined,
              cpu: stats ? 0.05 : undefined,
              maxmem: stats ? n.memoryGiB * GiB : undefined,
              mem: stats ? Math.floor(n.memoryGiB * GiB * 0.3) : undefined,
              uptime: stats ? uptime(ctx, n.bootedAt) : undefined,
            }),
          );
        }
      }
      return out;
    },
  },

  'GET /nodes': {
    handler: (ctx) =>
      [...ctx.cluster.nodes.values()].map((n) => {
        const online = ctx.cluster.isOnline(n);
        return defined({
          node: n.name,
          id: `node/${n.name}`,
          type: 'node',
          status: online ? 'online' : 'offline',
          level: '',
          ssl_fingerprint: ctx.fingerprint,
          maxcpu: online ? n.cpus : undefined,
          cpu: online ? 0.05 : undefined,
          maxmem: online ? n.memoryGiB * GiB : undefined,
          mem: online ? Math.floor(n.memoryGiB * GiB * 0.3) : undefined,
          uptime: online ? uptime(ctx, n.bootedAt) : undefined,
        });
      }),
  },

  'GET /nodes/{node}/qemu': {
    handler: (ctx) =>
      [...ctx.cluster.guests.values()]
        .filter((g) => g.node === ctx.params.node && g.type === 'qemu' && canAudit(ctx, g))
        .map((g) => guestListItem(ctx, g, asBool(ctx.params.full))),
  },
  'GET /nodes/{node}/lxc': {
    handler: (ctx) =>
      [...ctx.cluster.guests.values()]
        .filter((g) => g.node === ctx.params.node && g.type === 'lxc' && canAudit(ctx, g))
        .map((g) => guestListItem(ctx, g, false)),
  },

  'GET /nodes/{node}/qemu/{vmid}/status/current': { handler: (ctx) => guestStatus(ctx, 'qemu') },
  'GET /nodes/{node}/lxc/{vmid}/status/current': { handler: (ctx) => guestStatus(ctx, 'lxc') },
  'GET /nodes/{node}/qemu/{vmid}/config': { handler: (ctx) => guestConfig(ctx, 'qemu') },
  'GET /nodes/{node}/lxc/{vmid}/config': { handler: (ctx) => guestConfig(ctx, 'lxc') },

  'POST /nodes/{node}/qemu/{vmid}/status/shutdown': { handler: shutdown('qemu') },
  'POST /nodes/{node}/lxc/{vmid}/status/shutdown': { handler: shutdown('lxc') },
  'POST /nodes/{node}/qemu/{vmid}/status/stop': { handler: stop('qemu'), paramsSince: { 'overrule-shutdown': '8.1' } },
  'POST /nodes/{node}/lxc/{vmid}/status/stop': { handler: stop('lxc'), paramsSince: { 'overrule-shutdown': '8.1' } },
  'POST /nodes/{node}/qemu/{vmid}/status/start': { handler: start('qemu') },
  'POST /nodes/{node}/lxc/{vmid}/status/start': { handler: start('lxc') },

  'POST /nodes/{node}/qemu/{vmid}/status/suspend': {
    handler: (ctx) => {
      rootOnly(ctx, 'skiplock');
      const todisk = asBool(ctx.params.todisk);
      const g = guestOf(ctx, 'qemu');
      if (todisk && !ctx.auth.has(who(ctx), `/vms/${g.vmid}`, 'VM.Config.Disk')) throw permError(`/vms/${g.vmid}, VM.Config.Disk`);
      return ctx.cluster.suspendGuest(g, { todisk, skiplock: asBool(ctx.params.skiplock) }, who(ctx).userid);
    },
  },

  'GET /nodes/{node}/tasks': { handler: taskList },

  'GET /nodes/{node}/tasks/{upid}/status': {
    handler: (ctx) => {
      const upid = String(ctx.params.upid);
      const decoded = decodeUpid(upid);
      if (!decoded) throw paramError({ upid: 'unable to parse worker upid' });
      const task = ctx.cluster.tasks.get(upid);
      // Task files live on the node that ran the task: asking another node finds nothing.
      if (!task || task.node !== ctx.params.node) throw paramError({ upid: 'no such task' });
      const p = who(ctx);
      if (p.userid !== task.user && !ctx.auth.has(p, `/nodes/${task.node}`, 'Sys.Audit')) throw permError(`/nodes/${task.node}, Sys.Audit`);
      const token = /^(.+)!(.+)$/.exec(task.user);
      return defined({
        upid,
        node: task.node,
        pid: task.pid,
        pstart: task.pstart,
        starttime: task.starttime,
        type: task.type,
        id: task.id,
        user: token ? token[1] : task.user,
        tokenid: token?.[2],
        status: task.status,
        exitstatus: task.exitstatus,
      });
    },
  },

  'POST /nodes/{node}/status': {
    handler: (ctx) => {
      // Proxying already checked that the node exists and is up.
      ctx.cluster.nodePower(ctx.cluster.node(String(ctx.params.node)), ctx.params.command as 'shutdown' | 'reboot');
      return null;
    },
  },

  'POST /nodes/{node}/wakeonlan': {
    handler: (ctx) => {
      const name = String(ctx.params.node);
      const node = ctx.cluster.nodes.get(name);
      if (!node) throw serverError(`No wake on LAN MAC address defined for '${name}'!`);
      return ctx.cluster.wakeNode(node);
    },
  },

  'GET /cluster/ha/resources': {
    handler: (ctx) =>
      [...ctx.cluster.haResources.values()].filter((r) => ctx.params.type === undefined || r.type === ctx.params.type).map(haResourceView),
  },
  'GET /cluster/ha/resources/{sid}': { handler: (ctx) => haResourceView(haResource(ctx)) },
  'PUT /cluster/ha/resources/{sid}': {
    handler: (ctx) => {
      const res = haResource(ctx);
      const digest = str(ctx.params.digest);
      if (digest !== undefined && digest !== haResourceView(res).digest) {
        throw serverError('detected modified configuration - file changed by other user? Try again.');
      }
      ctx.cluster.updateHaResource(res, { state: str(ctx.params.state), comment: str(ctx.params.comment), group: str(ctx.params.group) });
      return null;
    },
  },
  'GET /cluster/ha/status/current': { handler: haStatus },
  'POST /cluster/ha/status/disarm-ha': {
    since: '9.2',
    handler: (ctx) => {
      ctx.cluster.disarmHa(ctx.params['resource-mode'] as 'freeze' | 'ignore');
      return null;
    },
  },
  'POST /cluster/ha/status/arm-ha': {
    since: '9.2',
    handler: (ctx) => {
      ctx.cluster.armHa();
      return null;
    },
  },

  'GET /nodes/{node}/ceph/mon': { handler: (ctx) => ctx.cluster.cephMonitors() },
  'GET /cluster/ceph/flags': { handler: (ctx) => ctx.cluster.cephFlagList() },
  'PUT /cluster/ceph/flags': {
    handler: (ctx) => {
      const flags: Partial<Record<CephFlagName, boolean>> = {};
      for (const f of CEPH_FLAGS) if (ctx.params[f] !== undefined) flags[f] = asBool(ctx.params[f]);
      return ctx.cluster.setCephFlags(flags, who(ctx).userid);
    },
  },
  'GET /cluster/ceph/flags/{flag}': {
    handler: (ctx) => {
      ctx.cluster.requireCeph();
      return ctx.cluster.cephFlags[ctx.params.flag as CephFlagName] ? 1 : 0;
    },
  },
  'PUT /cluster/ceph/flags/{flag}': {
    handler: (ctx) => {
      ctx.cluster.setCephFlag(ctx.params.flag as CephFlagName, asBool(ctx.params.value));
      return null;
    },
  },

  'GET /cluster/options': {
    handler: (ctx) => {
      const all = ctx.cluster.optionsView();
      if (ctx.auth.has(who(ctx), '/', 'Sys.Audit')) return all;
      // Without Sys.Audit only what the GUI needs before login decisions.
      return Object.fromEntries(Object.entries(all).filter(([k]) => ['console', 'tag-style', 'user-tag-access', 'registered-tags'].includes(k)));
    },
  },
  'PUT /cluster/options': {
    handler: (ctx) => {
      const { delete: del, ...values } = ctx.params;
      const set: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(values)) {
        const type = OPTION_PARAMS[k]?.type;
        set[k] = type === 'boolean' ? (asBool(v) ? 1 : 0) : type === 'integer' ? Number(v) : String(v);
      }
      ctx.cluster.setOptions(set, del === undefined ? [] : String(del).split(/[,;\s]+/).filter(Boolean));
      return null;
    },
  },
};
