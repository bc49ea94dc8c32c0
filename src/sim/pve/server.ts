import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledClock, type Clock } from '../../core/clock.js';
import { AuditLog } from './audit.js';
import { AuthStore, type Principal } from './auth.js';
import { SimCluster, versionAtLeast, type SimStateDump } from './cluster.js';
import { ENDPOINTS } from './endpoints.js';
import { ApiError, paramError, permError } from './errors.js';
import { FaultInjector, type Fault, type FaultHits, type AnswerFault } from './faults.js';
import { ROUTES } from './handlers.js';
import { generateTestPki } from './pki.js';
import { loadScenario, parseScenario, type Scenario } from './scenario.js';
import { ApiSchema, findApidata, loadApidata, type MethodSchema } from './schema.js';
import { TrackedClock } from './tracked-clock.js';
import { validateParameters } from './validate.js';

/**
 * The Proxmox VE cluster simulator: pveproxy's HTTPS API on loopback in front of a SimCluster.
 * Requests go through pveproxy's order: method and URI checks, authentication (401s delayed
 * 3 s), method lookup (501), parameter merge, API-token and permission checks (403), proxying to
 * the target node (595 when it is down), then parameter verification (400) and the handler.
 */
export interface PveSimulatorOptions {
  /** The scenario, or the path of a YAML/JSON scenario file. */
  scenario: Scenario | string;
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  /** Simulated seconds per wall second (default 1). Ignored when `clock` is given. */
  timeScale?: number;
  clock?: Clock;
  /** The official schema to validate against; default: found next to the repo; false: the built-in table only. */
  apidataPath?: string | false;
}

export interface PveSimulator {
  port: number;
  /** `https://127.0.0.1:PORT/api2/json` */
  url: string;
  /** The cluster CA (as /etc/pve/pve-root-ca.pem), written to a temporary file. */
  caPath: string;
  caPem: string;
  /** SHA-256 of the node certificate, PVE format (AB:CD:…). */
  fingerprint: string;
  tokenId: string;
  tokenSecret: string;
  /** A user with a password, for ticket login (root@pam unless the scenario gives another). */
  username: string;
  password: string;
  /** What parameters are validated against: the apidata.json path or `built-in table`. */
  schemaSource: string;
  cluster: SimCluster;
  audit: AuditLog;
  clock: Clock;
  state(): SimStateDump;
  /** Adds a fault; returns its id (for removeFault). node-offline faults are scheduled, not removable. */
  inject(fault: Fault): number;
  removeFault(id: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 64 * 1024;
const UNAUTHORIZED_DELAY_MS = 3000;
const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE']);
const CONTENT_TYPE = 'application/json;charset=UTF-8';

interface Outcome {
  status: number;
  message?: string;
  data?: unknown;
  errors?: Record<string, string>;
  bodyless?: boolean;
  /** Hold the answer back this long (simulated ms), as pveproxy does for 401s. */
  delayMs?: number;
}

interface RequestInfo {
  method: string;
  /** Below /api2/json when the request is under it, else the raw path. */
  path: string;
  params: Record<string, unknown>;
  principal?: Principal;
}

export function builtInSchema(): ApiSchema {
  const schema = new ApiSchema('built-in table');
  for (const e of ENDPOINTS) {
    schema.add(e.method, e.path, {
      parameters: { additionalProperties: 0, properties: e.params },
      permissions: e.permissions,
      proxyto: e.proxyto,
      allowtoken: e.allowtoken ?? 1,
    });
  }
  return schema;
}

export async function startPveSimulator(options: PveSimulatorOptions): Promise<PveSimulator> {
  const scenario = typeof options.scenario === 'string' ? loadScenario(options.scenario) : parseScenario(options.scenario);
  const clock = new TrackedClock(options.clock ?? new ScaledClock(options.timeScale ?? 1));
  const apidata = options.apidataPath === false ? undefined : findApidata(options.apidataPath);
  const schema = apidata ? loadApidata(apidata) : builtInSchema();
  const cluster = new SimCluster(scenario, clock);
  const auth = new AuthStore(scenario.users, clock);
  const audit = new AuditLog();
  const faults = new FaultInjector();
  const pki = await generateTestPki(cluster.localNode.name);
  const host = options.host ?? '127.0.0.1';

  /** node-offline `at` counts from `origin`: the simulation start for scenario faults, else now. */
  const inject = (fault: Fault, origin = clock.now()): number => {
    if (fault.kind !== 'node-offline') return faults.add(fault);
    const node = cluster.node(fault.node).name;
    clock.setTimeout(() => cluster.powerOffNode(node, 'fault'), origin + (fault.at ?? 0) * 1000 - clock.now());
    return 0;
  };
  for (const f of scenario.faults) inject(f, cluster.startedAt);

  const pipeline = new Pipeline(schema, cluster, auth, pki.fingerprint);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
    void serve(req, res).catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = clock.now();
    const body = await readBody(req);
    const info: RequestInfo = { method: req.method ?? 'GET', path: relPath(req.url ?? '/'), params: {} };
    const hits: FaultHits = faults.check(info.method, info.path);
    // Kept even when a fault then swallows the answer: the task did start.
    let upid: string | undefined;
    const record = (status: number, message?: string) =>
      audit.add({
        at,
        method: info.method,
        path: info.path,
        params: info.params,
        user: info.principal?.userid,
        status,
        message: message?.split('\n')[0],
        fault: hits.labels.length > 0 ? hits.labels.join(',') : undefined,
        upid,
      });

    if (hits.delayMs > 0) await clock.sleep(hits.delayMs);
    let outcome: Outcome;
    if (hits.before) {
      if (hits.before.kind === 'reset') {
        req.socket.destroy();
        record(0, 'connection reset (fault)');
        return;
      }
      outcome = faultOutcome(hits.before);
    } else {
      outcome = await pipeline.run(req, body, info);
      if (typeof outcome.data === 'string' && outcome.data.startsWith('UPID:')) upid = outcome.data;
      if (hits.after?.kind === 'reset') {
        req.socket.destroy();
        record(0, 'connection reset after processing (fault)');
        return;
      }
      if (hits.after) outcome = faultOutcome(hits.after);
    }
    if (outcome.delayMs) await clock.sleep(outcome.delayMs);
    send(res, outcome);
    record(outcome.status, outcome.message);
  }

  let port = options.port ?? 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen();
  port = (server.address() as { port: number }).port;

  // The API runs on the local node: when it is down, nothing answers (connection refused).
  const goDark = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  cluster.on('local-node', (online) => {
    // Should another process have taken the port meanwhile, the API stays unreachable, as when
    // pveproxy fails to start.
    if (online) void listen().catch(() => undefined);
    else goDark();
  });
  if (!cluster.isOnline(cluster.localNode)) goDark();

  const dir = await mkdtemp(join(tmpdir(), 'pvepower-pve-sim-'));
  const caPath = join(dir, 'pve-root-ca.pem');
  await writeFile(caPath, pki.caPem);

  return {
    port,
    url: `https://${host}:${port}/api2/json`,
    caPath,
    caPem: pki.caPem,
    fingerprint: pki.fingerprint,
    ...auth.credentials,
    schemaSource: schema.source,
    cluster,
    audit,
    clock,
    state: () => cluster.dump(),
    inject: (fault) => inject(fault),
    removeFault: (id) => faults.remove(id),
    clearFaults: () => faults.clear(),
    close: async () => {
      clock.dispose();
      cluster.removeAllListeners();
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** pveproxy's request handling between the socket and the handlers. */
class Pipeline {
  constructor(
    private readonly schema: ApiSchema,
    private readonly cluster: SimCluster,
    private readonly auth: AuthStore,
    private readonly fingerprint: string,
  ) {}

  async run(req: IncomingMessage, body: Buffer | undefined, info: RequestInfo): Promise<Outcome> {
    try {
      return await this.process(req, body, info);
    } catch (err) {
      if (err instanceof ApiError) {
        return {
          status: err.status,
          message: err.message,
          errors: err.errors,
          bodyless: err.bodyless,
          delayMs: err.status === 401 ? UNAUTHORIZED_DELAY_MS : undefined,
        };
      }
      return { status: 500, message: `${(err as Error).message}\n` };
    }
  }

  private async process(req: IncomingMessage, body: Buffer | undefined, info: RequestInfo): Promise<Outcome> {
    const { method } = info;
    if (!KNOWN_METHODS.has(method)) throw new ApiError(501, `method '${method}' not available`, undefined, true);
    const url = new URL(req.url ?? '/', 'https://localhost');
    const m = /^\/api2\/+([a-z][a-z0-9]+)(\/.*)?$/.exec(decode(url.pathname));
    if (!url.pathname.startsWith('/api2')) throw new ApiError(501, `no such file '${url.pathname}'`, undefined, true);
    if (!m) throw new ApiError(501, 'no such uri', undefined, true);
    const rel = m[2] ?? '/';
    if (m[1] !== 'json') throw new ApiError(501, `no formatter for uri ${rel}, ${m[1]}`, undefined, true);

    const { principal, viaToken } = this.authenticate(req, method, rel);
    info.principal = principal;

    const params = this.extractParams(req, method, body, url);
    info.params = params;
    const match = this.schema.lookup(method, rel);
    if (!match) return { status: 501, message: `Method '${method} ${rel}' not implemented` };

    for (const [k, v] of Object.entries(match.pathParams)) {
      if (params[k] !== undefined && String(params[k]) !== v) {
        throw paramError({ [k]: 'duplicate parameter (already defined in URI) with conflicting values!' });
      }
      params[k] = v;
    }
    const s: MethodSchema = match.schema;
    if (viaToken && !s.allowtoken) throw permError(`URI '${rel}' not available with API token, need proper ticket.\n`);
    this.auth.checkPermissions(s.permissions, principal, params);
    if (s.proxyto) params[s.proxyto] = this.proxy(String(params[s.proxyto]));

    const route = ROUTES[`${method} ${match.template}`];
    if (!route || (route.since && !versionAtLeast(this.cluster.version, route.since))) {
      return { status: 501, message: `Method '${method} ${rel}' not implemented` };
    }
    const properties = { ...s.parameters?.properties };
    for (const [p, since] of Object.entries(route.paramsSince ?? {})) {
      if (!versionAtLeast(this.cluster.version, since)) delete properties[p];
    }
    const errors = validateParameters(params, { ...s.parameters, properties });
    if (Object.keys(errors).length > 0) throw paramError(errors);
    const data = route.handler({ cluster: this.cluster, auth: this.auth, principal, params, fingerprint: this.fingerprint });
    return { status: 200, data: data ?? null };
  }

  /** Cookie or Authorization ticket first, then an API token, as pve-http-server extracts them. */
  private authenticate(req: IncomingMessage, method: string, rel: string): { principal?: Principal; viaToken: boolean } {
    const authHeader = req.headers.authorization;
    const ticket = authValue(req.headers.cookie, 'PVEAuthCookie') ?? authValue(authHeader, 'PVEAuthCookie');
    const token = ticket === undefined ? authValue(authHeader, 'PVEAPIToken') : undefined;
    const viaToken = token !== undefined;
    const exempt = (rel === '/access/ticket' && (method === 'GET' || method === 'POST')) || (rel === '/access/domains' && method === 'GET');
    if (exempt) return { viaToken };
    if (token !== undefined) return { principal: this.auth.verifyToken(token), viaToken };
    if (ticket === undefined) throw new ApiError(401, 'No ticket', undefined, true);
    const principal = this.auth.verifyTicket(ticket);
    if (method !== 'GET') this.auth.verifyCsrf(principal.userid, headerValue(req.headers.csrfpreventiontoken));
    return { principal, viaToken };
  }

  /** Form or JSON body (POST/PUT only), then the query string on top; `_dc` dropped. */
  private extractParams(req: IncomingMessage, method: string, body: Buffer | undefined, url: URL): Record<string, unknown> {
    let params: Record<string, unknown> = {};
    if (body && body.length > 0) {
      if (method !== 'POST' && method !== 'PUT') throw new ApiError(501, `Unexpected content for method '${method}'`, undefined, true);
      if (body.length > BODY_LIMIT) throw new ApiError(501, 'for data too large', undefined, true);
      const ctype = (req.headers['content-type'] ?? '').split(/\s*[;,]\s*/)[0]!.toLowerCase();
      if (ctype === 'application/json') {
        try {
          params = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new ApiError(501, (err as Error).message, undefined, true);
        }
      } else if (ctype === '' || ctype === 'application/x-www-form-urlencoded') {
        params = decodeUrlencoded(body.toString('utf8'));
      } else {
        throw new ApiError(506, `upload 'Content-Type '${req.headers['content-type']}' not implemented`, undefined, true);
      }
    }
    Object.assign(params, decodeUrlencoded(url.search.slice(1)));
    delete params._dc;
    return params;
  }

  /** pveproxy forwards /nodes/{node}/… calls; an unreachable node answers 595. Returns the node's name. */
  private proxy(nodeName: string): string {
    const local = this.cluster.localNode.name;
    if (nodeName === local || nodeName === 'localhost') return local;
    const node = this.cluster.nodes.get(nodeName);
    if (!node) {
      throw new ApiError(500, `hostname lookup '${nodeName}' failed - failed to get address info for: ${nodeName}: Name or service not known\n`);
    }
    if (!this.cluster.isOnline(node)) throw new ApiError(595, 'No route to host', undefined, true);
    return nodeName;
  }
}

function faultOutcome(f: Extract<AnswerFault, { kind: 'error' }>): Outcome {
  return { status: f.status ?? 500, message: `${f.message ?? 'simulated server error'}\n` };
}

function send(res: ServerResponse, o: Outcome): void {
  const now = new Date().toUTCString();
  const headers: Record<string, string | number> = {
    'Cache-Control': 'max-age=0',
    Pragma: 'no-cache',
    Expires: now,
    Server: 'pve-api-daemon/3.0',
  };
  // pveproxy closes the connection after any error.
  if (o.status >= 400) headers.Connection = 'close';
  const reason = o.status === 200 ? 'OK' : (o.message ?? '').split('\n')[0]!.replace(/[^\x20-\x7e]/g, '?');
  if (o.bodyless) {
    res.writeHead(o.status, reason, headers);
    res.end();
    return;
  }
  const payload = o.status < 400 ? { data: o.data ?? null } : { data: null, message: o.message, ...(o.errors ? { errors: o.errors } : {}) };
  const text = Buffer.from(JSON.stringify(payload), 'utf8');
  res.writeHead(o.status, reason, { ...headers, 'Content-Type': CONTENT_TYPE, 'Content-Length': text.length });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Keep reading past the limit (so the answer can be sent), but stop storing.
      if (size <= BODY_LIMIT + 1) chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length > 0 ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function relPath(rawUrl: string): string {
  const path = decode(new URL(rawUrl, 'https://localhost').pathname);
  const m = /^\/api2\/+json(\/.*)?$/.exec(path);
  return m ? (m[1] ?? '/') : path;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** pve-http-server's decode_urlencoded: repeated keys joined with NUL, `+` is a space. */
function decodeUrlencoded(data: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of data.split(/[&;]/)) {
    if (kv === '') continue;
    const eq = kv.indexOf('=');
    const k = decodeForm(eq < 0 ? kv : kv.slice(0, eq));
    if (eq < 0) {
      out[k] = undefined;
      continue;
    }
    const v = decodeForm(kv.slice(eq + 1));
    out[k] = out[k] === undefined ? v : `${String(out[k])}\0${v}`;
  }
  return out;
}

function decodeForm(s: string): string {
  return decode(s.replace(/\+/g, ' '));
}

/** PVE::APIServer::Formatter::extract_auth_value: `(?:^|\s)NAME(?:=| )([^;]*)`, URI-unescaped. */
function authValue(header: string | string[] | undefined, name: string): string | undefined {
  const text = headerValue(header);
  if (text === undefined) return undefined;
  const m = new RegExp(`(?:^|\\s)${name}(?:=| )([^;]*)`).exec(text);
  return m ? decode(m[1]!) : undefined;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join('; ') : h;
}
