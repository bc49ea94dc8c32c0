import { afterEach } from 'node:test';
import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { startPveSimulator, type PveSimulator, type PveSimulatorOptions } from '../../../src/sim/pve/server.js';

/** Simulated seconds per wall second in these tests: a 60 s shutdown timeout takes 0.6 s. */
export const SCALE = 100;

/** A small cluster most tests start from; each test overrides what it needs. */
export function baseScenario(): Record<string, unknown> {
  return {
    cluster: { name: 'lab', version: '9.2.11', haLatencySeconds: 2 },
    nodes: [
      { name: 'pve1', local: true, cephMon: true, mac: 'bc:24:11:00:00:01', bootSeconds: 30 },
      { name: 'pve2', cephMon: true, mac: 'bc:24:11:00:00:02', bootSeconds: 30 },
      { name: 'pve3', mac: 'bc:24:11:00:00:03', bootSeconds: 30 },
    ],
    guests: [
      { vmid: 100, node: 'pve1', name: 'db', status: 'running', tags: ['critical'], startup: 'order=1', shutdownSeconds: 20 },
      { vmid: 101, node: 'pve2', name: 'web', status: 'running', tags: ['ups-shed', 'web'], pool: 'apps', shutdownSeconds: 10 },
      { vmid: 102, node: 'pve2', name: 'stubborn', status: 'running', ignoresAcpi: true, shutdownSeconds: 10 },
      { vmid: 103, node: 'pve3', name: 'ha-vm', status: 'running', ha: 'started', shutdownSeconds: 15 },
      { vmid: 104, node: 'pve2', name: 'paused', status: 'paused' },
      { vmid: 105, node: 'pve2', name: 'backing-up', status: 'running', lock: 'backup' },
      { vmid: 106, type: 'lxc', node: 'pve3', name: 'ct-up', status: 'running', shutdownSeconds: 5 },
      { vmid: 107, type: 'lxc', node: 'pve3', name: 'ct-down', status: 'stopped' },
      { vmid: 108, node: 'pve3', name: 'off', status: 'stopped' },
      { vmid: 9000, node: 'pve2', name: 'tpl', template: true },
    ],
    users: [
      { userid: 'root@pam', password: 'rootpw' },
      {
        userid: 'ups@pve',
        password: 'upspw',
        privileges: ['VM.Audit', 'VM.PowerMgmt', 'VM.Config.Disk', 'Sys.Audit', 'Sys.PowerMgmt', 'Sys.Modify', 'Sys.Console', 'Pool.Audit'],
        tokens: [
          { id: 'daemon', secret: '11111111-2222-3333-4444-555555555555' },
          { id: 'readonly', secret: '66666666-7777-8888-9999-000000000000', privileges: ['VM.Audit', 'Sys.Audit'] },
        ],
      },
    ],
  };
}

export async function startSim(scenario: Record<string, unknown> = baseScenario(), options: Partial<PveSimulatorOptions> = {}): Promise<PveSimulator> {
  return startPveSimulator({ scenario: scenario as never, timeScale: SCALE, ...options });
}

/**
 * For a test file that starts one simulator per test: returns `start(edit?)`, which builds the
 * base scenario, lets the test change it and starts it; the simulator is closed after the test.
 */
export function simPerTest(): (edit?: (s: Record<string, unknown>) => void) => Promise<PveSimulator> {
  let current: PveSimulator | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return async (edit) => {
    const scenario = baseScenario();
    edit?.(scenario);
    current = await startSim(scenario);
    return current;
  };
}

export type Auth = 'token' | 'none' | { token: string } | { ticket: string; csrf?: string } | { header: string };

export interface Reply {
  status: number;
  reason: string;
  headers: IncomingHttpHeaders;
  raw: string;
  /** The parsed JSON body, when there is one. */
  body?: { data?: unknown; message?: string; errors?: Record<string, string> };
  data: unknown;
}

export interface CallOptions {
  /** Form parameters (POST/PUT body) or query parameters (GET/DELETE). */
  params?: Record<string, string | number>;
  /** A JSON body instead of a form. */
  json?: unknown;
  auth?: Auth;
  headers?: Record<string, string>;
}

const agents = new WeakMap<PveSimulator, Agent>();

/** Keep-alive connections per simulator, as real clients use: TLS handshakes would slow the clock's timers. */
function agentFor(sim: PveSimulator): Agent {
  let agent = agents.get(sim);
  if (!agent) agents.set(sim, (agent = new Agent({ keepAlive: true, ca: sim.caPem })));
  return agent;
}

/** One API call over HTTPS, trusting the simulator's CA; never throws on HTTP errors. */
export function api(sim: PveSimulator, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const auth = opts.auth ?? 'token';
  const headers: Record<string, string> = { ...opts.headers };
  if (auth === 'token') headers.authorization = `PVEAPIToken=${sim.tokenId}=${sim.tokenSecret}`;
  else if (auth !== 'none' && 'token' in auth) headers.authorization = `PVEAPIToken=${auth.token}`;
  else if (auth !== 'none' && 'ticket' in auth) {
    headers.cookie = `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`;
    if (auth.csrf) headers.csrfpreventiontoken = auth.csrf;
  } else if (auth !== 'none') headers.authorization = auth.header;
  const form = new URLSearchParams(Object.entries(opts.params ?? {}).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const inBody = method === 'POST' || method === 'PUT';
  let body: string | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (inBody && form) {
    body = form;
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const url = `${sim.url}${path}${!inBody && form ? `?${form}` : ''}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: agentFor(sim) }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (raw += c));
      res.on('end', () => {
        const parsed = raw ? (JSON.parse(raw) as Reply['body']) : undefined;
        resolve({ status: res.statusCode!, reason: res.statusMessage!, headers: res.headers, raw, body: parsed, data: parsed?.data });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /access/ticket as a browser would. */
export async function login(sim: PveSimulator, username = 'root@pam', password = 'rootpw'): Promise<{ ticket: string; csrf: string }> {
  const r = await api(sim, 'POST', '/access/ticket', { auth: 'none', params: { username, password } });
  if (r.status !== 200) throw new Error(`login failed: ${r.status} ${r.reason}`);
  const d = r.data as { ticket: string; CSRFPreventionToken: string };
  return { ticket: d.ticket, csrf: d.CSRFPreventionToken };
}

/** Simulated seconds since the simulator started. */
export function simSeconds(sim: PveSimulator, at = sim.clock.now()): number {
  return (at - sim.cluster.startedAt) / 1000;
}

/** Polls until `cond` holds; fails once `maxSimSeconds` of simulated time have passed. */
export async function waitFor(sim: PveSimulator, cond: () => boolean | Promise<boolean>, maxSimSeconds = 600, what = 'condition'): Promise<void> {
  const deadline = sim.clock.now() + maxSimSeconds * 1000;
  while (!(await cond())) {
    if (sim.clock.now() > deadline) throw new Error(`timed out after ${maxSimSeconds} simulated s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the task is stopped and returns its status. */
export async function waitTask(sim: PveSimulator, upid: string, maxSimSeconds = 600): Promise<{ status: string; exitstatus?: string }> {
  const node = upid.split(':')[1]!;
  let last: { status: string; exitstatus?: string } = { status: 'running' };
  await waitFor(
    sim,
    async () => {
      const r = await api(sim, 'GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
      last = r.data as typeof last;
      return last.status === 'stopped';
    },
    maxSimSeconds,
    `task ${upid}`,
  );
  return last;
}

export function guestEvents(sim: PveSimulator, vmid: number): Array<{ event: string; at: number; detail?: string; via?: string }> {
  return sim.state().guests.find((g) => g.vmid === vmid)!.events;
}
