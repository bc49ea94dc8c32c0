import type { Recorded, Reply } from './server.js';

/** A guest in the fake cluster. `config` is the raw config as GET …/config returns it. */
export interface FakeGuest {
  node: string;
  type: 'qemu' | 'lxc';
  vmid: number;
  name: string;
  status: 'running' | 'stopped';
  tags?: string;
  template?: 0 | 1;
  pool?: string;
  lock?: string;
  hastate?: string;
  config?: Record<string, unknown>;
}

export interface FakeTask {
  upid: string;
  node: string;
  type: string;
  id: string;
  starttime: number;
  /** Status polls that still answer `running`. */
  runningPolls: number;
  exitstatus: string;
}

export interface FakeNode {
  name: string;
  ip: string;
  online: boolean;
  local?: boolean;
  fingerprint?: string;
}

type Route = (req: Recorded, p: Record<string, string>) => Reply;

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

/**
 * A small stateful PVE: enough of each endpoint PveClient uses, with PVE's quirks (0/1 booleans,
 * `;` tags, LXC "not running" 500s, HA tasks, token/ticket auth). Tests override single routes
 * with `override('POST /nodes/{node}/{type}/{vmid}/status/shutdown', …)`.
 */
export class FakePve {
  clusterName: string | undefined = 'lab';
  quorate = true;
  nodes: FakeNode[] = [
    { name: 'pve1', ip: '10.0.0.11', online: true, local: true },
    { name: 'pve2', ip: '10.0.0.12', online: true },
    { name: 'pve3', ip: '10.0.0.13', online: false },
  ];
  guests: FakeGuest[] = [
    {
      node: 'pve1',
      type: 'qemu',
      vmid: 100,
      name: 'db',
      status: 'running',
      tags: 'prod;db',
      config: { name: 'db', startup: 'order=2,up=30,down=120', onboot: 1, agent: 'enabled=1,fstrim_cloned_disks=1' },
    },
    {
      node: 'pve2',
      type: 'lxc',
      vmid: 101,
      name: 'web',
      status: 'running',
      tags: 'web, edge',
      hastate: 'started',
      config: { hostname: 'web', startup: '3', onboot: 0, tags: 'web;edge' },
    },
    { node: 'pve1', type: 'qemu', vmid: 9000, name: 'tpl', status: 'stopped', template: 1, config: { name: 'tpl', template: 1 } },
  ];
  haResources: Array<{ sid: string; state?: string; group?: string }> = [{ sid: 'ct:101', state: 'started' }, { sid: 'vm:102' }];
  cephMons: Array<{ name: string; host?: string }> | 'not-installed' | 'not-initialized' = [{ name: 'pve1', host: 'pve1' }];
  cephFlags: Record<string, boolean> = { noout: false, norecover: false, norebalance: false, nobackfill: false, nodown: false, pause: false, noscrub: false };
  clusterOptions: Record<string, unknown> = { ha: { shutdown_policy: 'freeze' } };
  haArmed = true;
  tasks = new Map<string, FakeTask>();
  /** How the next task behaves. */
  nextTask = { runningPolls: 0, exitstatus: 'OK' };
  /** Expected `Authorization` header (token auth); undefined disables the check. */
  tokenHeader?: string;
  /** Ticket auth: user and password accepted by /access/ticket. */
  login?: { username: string; password: string };
  issuedTickets: string[] = [];
  private ticketSeq = 0;
  private pid = 0x1000;
  private readonly overrides = new Map<string, Route>();

  constructor(private readonly now: () => number = Date.now) {}

  override(route: string, fn: Route): void {
    this.overrides.set(route, fn);
  }

  /** Server handler: auth, then the route. */
  handle = (req: Recorded): Reply => this.checkAuth(req) ?? this.dispatch(req, [...this.overrides, ...this.routes()]);

  /** What the route does without overrides, for an override that adds a delay or a failure. */
  builtin(req: Recorded): Reply {
    return this.dispatch(req, this.routes());
  }

  private dispatch(req: Recorded, routes: Array<[string, Route]>): Reply {
    for (const [route, fn] of routes) {
      const [method, pattern] = route.split(' ');
      if (method !== req.method) continue;
      const p = match(pattern, req.path);
      if (p) return fn(req, p);
    }
    return { status: 501, reason: `Method '${req.method} /api2/json${req.path}' not implemented` };
  }

  guest(vmid: number): FakeGuest {
    const g = this.guests.find((x) => x.vmid === vmid);
    if (!g) throw new Error(`no guest ${vmid}`);
    return g;
  }

  private checkAuth(req: Recorded): Reply | undefined {
    if (req.path === '/access/ticket') return undefined;
    if (this.tokenHeader !== undefined && req.headers.authorization !== this.tokenHeader) {
      return { status: 401, reason: 'authentication failure', body: { data: null, message: 'authentication failure\n' } };
    }
    if (this.login) {
      const cookie = String(req.headers.cookie ?? '');
      const ticket = decodeURIComponent(/PVEAuthCookie=([^;]+)/.exec(cookie)?.[1] ?? '');
      if (!ticket) return { status: 401, reason: 'No ticket' };
      if (ticket !== this.issuedTickets.at(-1)) return { status: 401, reason: 'invalid PVE ticket' };
      if (req.method !== 'GET' && req.headers.csrfpreventiontoken !== `csrf-${ticket}`) {
        return { status: 401, reason: 'Permission denied - invalid csrf token' };
      }
    }
    return undefined;
  }

  /** Starts a task and returns its UPID, as fork_worker does. */
  startTask(node: string, type: string, id: string, user = 'pvepower@pve!ups'): string {
    const starttime = Math.floor(this.now() / 1000);
    const upid = `UPID:${node}:${hex8(this.pid++)}:${hex8(0x2a000)}:${hex8(starttime)}:${type}:${id}:${user}:`;
    this.tasks.set(upid, { upid, node, type, id, starttime, ...this.nextTask });
    return upid;
  }

  private routes(): Array<[string, Route]> {
    const guestOf = (p: Record<string, string>): FakeGuest | Reply => {
      const g = this.guests.find((x) => x.vmid === Number(p.vmid) && x.type === p.type && x.node === p.node);
      if (g) return g;
      const file = p.type === 'qemu' ? 'qemu-server' : 'lxc';
      return { status: 500, reason: `Configuration file 'nodes/${p.node}/${file}/${p.vmid}.conf' does not exist` };
    };
    const isReply = (x: FakeGuest | Reply): x is Reply => !('vmid' in x);
    const ha = (g: FakeGuest) => this.haResources.some((r) => r.sid === `${g.type === 'qemu' ? 'vm' : 'ct'}:${g.vmid}`);
    const power =
      (action: 'shutdown' | 'stop' | 'start' | 'suspend'): Route =>
      (_req, p) => {
        const g = guestOf(p);
        if (isReply(g)) return g;
        if (ha(g) && action !== 'suspend') {
          return { data: this.startTask(g.node, action === 'start' ? 'hastart' : 'hastop', String(g.vmid)) };
        }
        const ct = g.type === 'lxc';
        if (action === 'start') {
          if (g.status === 'running') return { status: 500, reason: `${ct ? 'CT' : 'VM'} ${g.vmid} already running` };
          g.status = 'running';
          return { data: this.startTask(g.node, ct ? 'vzstart' : 'qmstart', String(g.vmid)) };
        }
        if (g.status !== 'running' && (ct || action === 'suspend')) {
          return { status: 500, reason: `${ct ? 'CT' : 'VM'} ${g.vmid} not running` };
        }
        g.status = 'stopped';
        const type = action === 'suspend' ? 'qmsuspend' : `${ct ? 'vz' : 'qm'}${action}`;
        return { data: this.startTask(g.node, type, String(g.vmid)) };
      };

    return [
      ['POST /access/ticket', (req) => {
        const ok = this.login && req.params.username?.[0] === this.login.username && req.params.password?.[0] === this.login.password;
        if (!ok) return { status: 401, reason: 'authentication failure', body: { data: null, message: 'authentication failure\n' } };
        const ticket = `PVE:${this.login!.username}:${hex8(++this.ticketSeq)}::sig+/=${this.ticketSeq}`;
        this.issuedTickets.push(ticket);
        return { data: { username: this.login!.username, ticket, CSRFPreventionToken: `csrf-${ticket}` } };
      }],
      ['GET /version', () => ({ data: { version: '9.2.11', release: '9.2', repoid: 'abcdef12' } })],
      ['GET /cluster/status', () => {
        const nodes = this.nodes.map((n, i) => ({
          type: 'node', id: `node/${n.name}`, name: n.name, nodeid: i + 1, ip: n.ip, local: n.local ? 1 : 0, online: n.online ? 1 : 0, level: '',
        }));
        if (this.clusterName === undefined) return { data: nodes.slice(0, 1) };
        return { data: [{ type: 'cluster', id: 'cluster', name: this.clusterName, nodes: nodes.length, version: 3, quorate: this.quorate ? 1 : 0 }, ...nodes] };
      }],
      ['GET /nodes', () => ({
        data: this.nodes.map((n) => ({ node: n.name, status: n.online ? 'online' : 'offline', ssl_fingerprint: n.fingerprint, level: '' })),
      })],
      ['GET /nodes/{node}/ceph/mon', () => {
        if (this.cephMons === 'not-installed') return { status: 500, reason: 'binary not installed: /usr/bin/ceph-mon' };
        if (this.cephMons === 'not-initialized') return { status: 500, reason: 'pveceph configuration not initialized' };
        return { data: this.cephMons.map((m) => ({ ...m, addr: '10.0.0.11:6789/0', quorum: 1, rank: 0 })) };
      }],
      ['GET /cluster/resources', () => ({
        data: this.guests.map((g) => ({
          id: `${g.type}/${g.vmid}`, type: g.type, vmid: g.vmid, node: g.node, name: g.name, status: g.status,
          template: g.template ?? 0, tags: g.tags, pool: g.pool, lock: g.lock, hastate: g.hastate, maxmem: 1 << 30, uptime: 100,
        })),
      })],
      ['GET /nodes/{node}/{type}/{vmid}/status/current', (_req, p) => {
        const g = guestOf(p);
        if (isReply(g)) return g;
        const managed = ha(g);
        return {
          data: {
            vmid: g.vmid, name: g.name, status: g.status, lock: g.lock,
            ...(g.type === 'qemu' ? { qmpstatus: g.status, agent: g.config?.agent ? 1 : undefined } : {}),
            ha: managed ? { managed: 1, state: g.hastate ?? 'started' } : { managed: 0 },
          },
        };
      }],
      ['GET /nodes/{node}/{type}/{vmid}/config', (_req, p) => {
        const g = guestOf(p);
        if (isReply(g)) return g;
        return { data: { ...g.config, digest: 'd1' } };
      }],
      ['POST /nodes/{node}/{type}/{vmid}/status/shutdown', power('shutdown')],
      ['POST /nodes/{node}/{type}/{vmid}/status/stop', power('stop')],
      ['POST /nodes/{node}/{type}/{vmid}/status/start', power('start')],
      ['POST /nodes/{node}/qemu/{vmid}/status/suspend', (req, p) => power('suspend')(req, { ...p, type: 'qemu' })],
      ['GET /nodes/{node}/tasks', (req, p) => {
        const since = Number(req.params.since?.[0] ?? 0);
        const vmid = req.params.vmid?.[0];
        const list = [...this.tasks.values()]
          .filter((t) => t.node === p.node && t.starttime >= since && (vmid === undefined || t.id === vmid))
          .map((t) => ({ upid: t.upid, node: t.node, type: t.type, id: t.id, starttime: t.starttime, user: 'pvepower@pve!ups', pid: 1, pstart: 1 }));
        return { data: list };
      }],
      ['GET /nodes/{node}/tasks/{upid}/status', (_req, p) => {
        const t = this.tasks.get(p.upid);
        if (!t || t.node !== p.node) return { status: 500, reason: `no such task` };
        if (t.runningPolls > 0) {
          t.runningPolls--;
          return { data: { upid: t.upid, node: t.node, type: t.type, id: t.id, status: 'running', starttime: t.starttime, pid: 1, pstart: 1, user: 'u' } };
        }
        return { data: { upid: t.upid, node: t.node, type: t.type, id: t.id, status: 'stopped', exitstatus: t.exitstatus, starttime: t.starttime, pid: 1, pstart: 1, user: 'u' } };
      }],
      ['POST /nodes/{node}/status', (req, p) => {
        const n = this.nodes.find((x) => x.name === p.node);
        if (!n?.online) return { status: 595, reason: `Connection refused` };
        if (req.params.command?.[0] === 'shutdown') n.online = false;
        return { data: null };
      }],
      ['POST /nodes/{node}/wakeonlan', (_req, p) => ({ data: `aa:bb:cc:dd:ee:0${this.nodes.findIndex((x) => x.name === p.node)}` })],
      ['GET /cluster/ha/resources', () => ({ data: this.haResources.map((r) => ({ ...r, type: r.sid.startsWith('vm') ? 'vm' : 'ct', digest: 'd' })) })],
      ['PUT /cluster/ha/resources/{sid}', (req, p) => {
        const r = this.haResources.find((x) => x.sid === p.sid);
        if (!r) return { status: 500, reason: `service '${p.sid}' not defined` };
        r.state = req.params.state?.[0];
        return { data: null };
      }],
      ['POST /cluster/ha/status/disarm-ha', () => {
        this.haArmed = false;
        return { data: null };
      }],
      ['POST /cluster/ha/status/arm-ha', () => {
        this.haArmed = true;
        return { data: null };
      }],
      ['GET /cluster/ceph/flags', () => ({
        data: Object.entries(this.cephFlags).map(([name, value]) => ({ name, value: value ? 1 : 0, description: name })),
      })],
      ['PUT /cluster/ceph/flags/{flag}', (req, p) => {
        this.cephFlags[p.flag] = req.params.value?.[0] === '1';
        return { data: null };
      }],
      ['GET /cluster/options', () => ({ data: this.clusterOptions })],
    ];
  }
}

function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w.startsWith('{')) out[w.slice(1, -1)] = got[i];
    else if (w !== got[i]) return undefined;
  }
  return out;
}
