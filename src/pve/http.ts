import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import pRetry from 'p-retry';
import proxmoxApi, { type ApiRequestable, type Proxmox } from 'proxmox-api';
import { Pool, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { registerSecret } from '../core/secrets.js';
import {
  AuthenticationError,
  CephNotInstalledError,
  GuestStateError,
  NetworkError,
  PveConfigError,
  PveError,
  ServerError,
  TimeoutError,
  errorFromResponse,
  type RequestInfo,
} from './errors.js';
import { createConnector, normalizeFingerprint } from './tls.js';

export interface PveConnectionOptions {
  /** Node name or IP of any cluster node (pveproxy). With `ca`, it must be in the certificate's SANs. */
  host: string;
  port?: number;
  /** `USER@REALM!TOKENID`, e.g. `pvepower@pve!ups`. */
  tokenId?: string;
  /** File holding the token secret (mode 0600 or stricter). */
  tokenSecretFile?: string;
  tokenSecret?: string;
  /** Ticket login, when no token is configured. */
  username?: string;
  password?: string;
  /** CA certificate: a path or the PEM itself (PVE: /etc/pve/pve-root-ca.pem). */
  ca?: string;
  /**
   * Pinned SHA-256 leaf fingerprint(s), PVE format. A map is keyed by node name: when `host` is one
   * of its keys only that node's fingerprint is accepted, otherwise any of the cluster's.
   */
  fingerprint?: string | Record<string, string>;
  /** Connect, response-headers and body timeout of each call, ms. */
  timeoutMs?: number;
  /** Extra attempts for retryable failures (GET/PUT, or not-yet-sent requests). */
  retries?: number;
  /** First retry delay; doubles per attempt. */
  retryDelayMs?: number;
  logger?: Logger;
  clock?: Clock;
  /**
   * Dry runs (`pvepower drill`, `plan`): refuse every request that could change the cluster,
   * before it is sent. Only GET passes (and the ticket login, which changes nothing).
   */
  readOnly?: boolean;
}

type Params = Record<string, unknown> | undefined;

interface Session {
  ticket: string;
  csrf: string;
}

interface TicketAuth {
  kind: 'ticket';
  username: string;
  password: string;
}

type Auth = { kind: 'token'; header: string } | TicketAuth;

const API_PREFIX = '/api2/json';
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const TOKEN_ID_RE = /^[^\s:/!]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads a secret from a file nobody but the owner can read (checked on the open descriptor). */
export function readSecretFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new PveConfigError(`cannot read the token secret file ${file}: ${(err as Error).message}`);
  }
  try {
    const mode = fstatSync(fd).mode;
    if ((mode & 0o077) !== 0) {
      throw new PveConfigError(
        `the token secret file ${file} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}, so group or ` +
          `others can read it; refusing to use it. Fix: chmod 600 ${file}`,
      );
    }
    return readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
}

function resolveAuth(opts: PveConnectionOptions): Auth {
  if (opts.tokenId !== undefined) {
    if (!TOKEN_ID_RE.test(opts.tokenId)) {
      throw new PveConfigError(
        `invalid API token id "${opts.tokenId}": expected USER@REALM!TOKENID, e.g. pvepower@pve!ups`,
      );
    }
    if (opts.tokenSecret !== undefined && opts.tokenSecretFile !== undefined) {
      throw new PveConfigError('set either tokenSecret or tokenSecretFile, not both');
    }
    const source = opts.tokenSecretFile ?? 'tokenSecret';
    const secret =
      opts.tokenSecretFile !== undefined ? readSecretFile(opts.tokenSecretFile) : (opts.tokenSecret ?? '').trim();
    if (secret) registerSecret(secret);
    if (!UUID_RE.test(secret)) {
      throw new PveConfigError(
        `the token secret from ${source} is not a UUID: it must be the secret PVE showed once when ` +
          `the token ${opts.tokenId} was created (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), without the token id`,
      );
    }
    return { kind: 'token', header: `PVEAPIToken=${opts.tokenId}=${secret}` };
  }
  if (opts.username !== undefined && opts.password !== undefined) {
    registerSecret(opts.password);
    return { kind: 'ticket', username: opts.username, password: opts.password };
  }
  throw new PveConfigError('no PVE credentials: set tokenId with tokenSecretFile (recommended), or username and password');
}

function resolveFingerprints(host: string, fp: PveConnectionOptions['fingerprint']): string[] {
  if (fp === undefined) return [];
  if (typeof fp === 'string') return [normalizeFingerprint(fp)];
  const own = fp[host];
  return (own !== undefined ? [own] : Object.values(fp)).map(normalizeFingerprint);
}

function resolveCa(ca: string | undefined): string | undefined {
  if (ca === undefined || ca.includes('-----BEGIN')) return ca;
  try {
    return readFileSync(ca, 'utf8');
  } catch (err) {
    throw new PveConfigError(`cannot read the CA file ${ca}: ${(err as Error).message}`);
  }
}

/** Form/query encoding as PVE expects: booleans 1/0, arrays as repeated keys, null/undefined dropped. */
export function encodeParams(params: Params): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      let text: string;
      if (typeof item === 'boolean') text = item ? '1' : '0';
      else if (typeof item === 'string' || typeof item === 'number') text = String(item);
      else throw new TypeError(`PVE parameter ${key} must be a string, number or boolean`);
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
    }
  }
  return parts.join('&');
}

/**
 * proxmox-api only escapes `/` inside `$(value)`. Re-encode each segment fully, but keep the
 * characters RFC 3986 allows in a path segment (`:` `@` …) literal, as in UPIDs and HA sids.
 */
function encodePath(path: string): string {
  return path
    .split('/')
    .map((seg) =>
      encodeURIComponent(seg.replace(/%2F/gi, '/')).replace(/%(3A|40|24|26|2C|3B|3D)/gi, (m) => decodeURIComponent(m)),
    )
    .join('/');
}

interface RawResponse {
  status: number;
  reason: string;
  contentType: string;
  body: string;
}

/**
 * HTTPS transport to one pveproxy: verified TLS, token or ticket auth, typed errors, retries.
 * `api` is proxmox-api's typed proxy running on this transport
 * (`api.nodes.$('pve1').qemu.$(100).status.current.$get()`).
 */
export class PveHttp implements ApiRequestable {
  readonly api: Proxmox.Api;
  readonly origin: string;
  private readonly pool: Pool;
  private readonly auth: Auth;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly readOnly: boolean;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly closing = new AbortController();
  private session?: Promise<Session>;

  constructor(opts: PveConnectionOptions) {
    if (!opts.host) throw new PveConfigError('PVE host is not set');
    const port = opts.port ?? 8006;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PveConfigError(`invalid PVE port ${opts.port}`);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.readOnly = opts.readOnly ?? false;
    this.retries = opts.retries ?? 2;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger();
    this.auth = resolveAuth(opts);
    const ca = resolveCa(opts.ca);
    const fingerprints = resolveFingerprints(opts.host, opts.fingerprint);
    if (!ca && fingerprints.length === 0) {
      throw new PveConfigError(
        'no way to verify the PVE certificate: set `ca` (e.g. /etc/pve/pve-root-ca.pem) or `fingerprint` ' +
          '(`pvenode cert info` on the node shows it); an unverified connection is not supported',
      );
    }
    this.origin = `https://${net.isIPv6(opts.host) ? `[${opts.host}]` : opts.host}:${port}`;
    this.pool = new Pool(this.origin, {
      connect: createConnector({ ca, fingerprints }, this.timeoutMs),
      // Guest actions run in parallel per node; a few sockets keep one slow call from blocking the rest.
      connections: 8,
    });
    this.api = proxmoxApi(this);
  }

  /** ApiRequestable: called by proxmox-api's proxy with a lowercase method and `/api2/json/…`. */
  doRequest(method: string, path: string, _pathTemplate: string, params?: Record<string, unknown>): Promise<any> {
    return this.call(method.toUpperCase(), path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length) : path, params);
  }

  /**
   * One API call with retries. GET and PUT (which sets absolute values in every call pvepower
   * makes) are retried on 5xx, timeouts and network errors. POST and DELETE are retried only when
   * the connection failed before the request was written: a POST that may have reached PVE is
   * never repeated here (PveClient checks the guest's state first).
   */
  call(method: string, path: string, params?: Params): Promise<unknown> {
    if (this.readOnly && method !== 'GET' && path !== '/access/ticket') {
      return Promise.reject(new PveConfigError(`read-only client: refusing ${method} ${path}`));
    }
    const idempotent = method === 'GET' || method === 'PUT';
    const request: RequestInfo = { method, path };
    return this.retrying(`PVE ${method} ${path}`, idempotent, () => this.authenticatedCall(request, params));
  }

  /** Runs `attempt` with p-retry; the backoff sleeps on the injected clock and ends on close(). */
  private retrying<T>(what: string, idempotent: boolean, attempt: () => Promise<T>): Promise<T> {
    const retryable = (err: Error) => this.isRetryable(err, idempotent);
    return pRetry(attempt, {
      retries: this.retries,
      // p-retry's own timer stays at 0: the delay is the clock sleep in onFailedAttempt.
      minTimeout: 0,
      signal: this.closing.signal,
      shouldRetry: ({ error }) => retryable(error),
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft <= 0 || !retryable(error)) return;
        const delay = this.retryDelayMs * 2 ** (attemptNumber - 1);
        this.logger.warn(`${what} failed, retrying`, { attempt: attemptNumber, retryInMs: delay, error: error.message });
        await this.clock.sleep(delay, this.closing.signal);
      },
    });
  }

  /** Destroys the connection pool: in-flight calls fail, idle sockets close, the process can exit. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new NetworkError('PVE client closed', { code: 'CLIENT_CLOSED', requestSent: false }));
    await this.pool.destroy();
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** Aborts when close() is called, for waits layered on this transport. */
  get closedSignal(): AbortSignal {
    return this.closing.signal;
  }

  private isRetryable(err: Error, idempotent: boolean): boolean {
    if (this.closed) return false;
    if (err instanceof NetworkError || err instanceof TimeoutError) return idempotent || !err.requestSent;
    if (err instanceof CephNotInstalledError || err instanceof GuestStateError) return false;
    return idempotent && err instanceof ServerError;
  }

  private async authenticatedCall(request: RequestInfo, params: Params): Promise<unknown> {
    const auth = this.auth;
    if (auth.kind === 'token') return this.send(request, params, { Authorization: auth.header });
    const session = this.login(auth);
    try {
      return await this.send(request, params, await this.ticketHeaders(session, request.method));
    } catch (err) {
      // A 401 means the call was refused before it ran: log in again (the ticket expired) and repeat once.
      if (!(err instanceof AuthenticationError)) throw err;
      if (this.session === session) this.session = undefined;
      this.logger.info('PVE ticket rejected, logging in again', { user: auth.username });
      return this.send(request, params, await this.ticketHeaders(this.login(auth), request.method));
    }
  }

  private async ticketHeaders(session: Promise<Session>, method: string): Promise<Record<string, string>> {
    const { ticket, csrf } = await session;
    const headers: Record<string, string> = { Cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}` };
    if (method !== 'GET') headers.CSRFPreventionToken = csrf;
    return headers;
  }

  /** Shared login: concurrent calls wait on one POST /access/ticket. */
  private login({ username, password }: TicketAuth): Promise<Session> {
    // Logging in twice is harmless, so every transport failure may be retried.
    this.session ??= this.retrying(`PVE login as ${username}`, true, async () => {
      const data = (await this.send({ method: 'POST', path: '/access/ticket' }, { username, password }, {})) as {
        ticket?: string;
        CSRFPreventionToken?: string;
      } | null;
      if (!data?.ticket || !data.CSRFPreventionToken) {
        throw new AuthenticationError(`PVE login as ${username} returned no ticket`, {});
      }
      registerSecret(data.ticket);
      registerSecret(data.CSRFPreventionToken);
      return { ticket: data.ticket, csrf: data.CSRFPreventionToken };
    }).catch((err: unknown) => {
      this.session = undefined;
      if (err instanceof AuthenticationError) {
        throw new AuthenticationError(`PVE login as ${username} failed: ${err.pveMessage ?? err.message}`, {
          status: err.status,
          pveMessage: err.pveMessage,
          request: err.request,
        });
      }
      throw err;
    });
    return this.session;
  }

  /** One HTTP exchange; resolves to the response's `data`. */
  private async send(request: RequestInfo, params: Params, auth: Record<string, string>): Promise<unknown> {
    const { method, path } = request;
    const encoded = encodeParams(params);
    const inBody = method === 'POST' || method === 'PUT';
    const url = API_PREFIX + encodePath(path) + (!inBody && encoded ? `?${encoded}` : '');
    const headers: Record<string, string> = { Accept: 'application/json', ...auth };
    if (inBody) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const started = this.clock.now();
    const res = await this.exchange(request, url, headers, inBody ? encoded : undefined);
    this.logger.debug(`PVE ${method} ${path} -> ${res.status}`, { ms: this.clock.now() - started });

    let json: { data?: unknown; message?: unknown; errors?: unknown } | undefined;
    if (res.body && /json/i.test(res.contentType)) {
      try {
        json = JSON.parse(res.body);
      } catch {
        // A malformed error body still has the reason phrase; a malformed 200 is reported below.
      }
    }
    if (res.status !== 200) throw errorFromResponse(res.status, res.reason, json, request);
    if (!json) {
      throw new PveError(`${method} ${path}: PVE answered 200 without a JSON body (is ${this.origin} a PVE API?)`, {
        status: 200,
        request,
      });
    }
    return json.data ?? null;
  }

  private exchange(
    request: RequestInfo,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      // onConnect runs right before undici writes the request: until then nothing was sent.
      let sent = false;
      let status = 0;
      let reason = '';
      let contentType = '';
      let size = 0;
      let abort: ((err?: Error) => void) | undefined;
      const chunks: Buffer[] = [];
      this.pool.dispatch(
        {
          path: url,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        },
        {
          onConnect: (abortFn) => {
            sent = true;
            abort = abortFn;
          },
          onHeaders: (code, rawHeaders, _resume, statusText) => {
            status = code;
            reason = statusText;
            for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
              if (rawHeaders[i].toString().toLowerCase() === 'content-type') contentType = rawHeaders[i + 1].toString();
            }
            return true;
          },
          onData: (chunk) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              abort?.(new PveError(`${request.method} ${request.path}: response larger than ${MAX_BODY_BYTES} bytes`, { request }));
              return false;
            }
            chunks.push(chunk);
            return true;
          },
          onComplete: () => resolve({ status, reason, contentType, body: Buffer.concat(chunks).toString('utf8') }),
          onError: (err) => reject(this.transportError(err, sent, request)),
        },
      );
    });
  }

  private transportError(err: Error & { code?: string }, sent: boolean, request: RequestInfo): PveError {
    if (err instanceof PveError) return err;
    const where = `${request.method} ${request.path}`;
    if (this.closed || err.code === 'UND_ERR_DESTROYED' || err.code === 'UND_ERR_CLOSED') {
      return new NetworkError(`${where} aborted: PVE client closed`, { code: 'CLIENT_CLOSED', requestSent: sent, request });
    }
    switch (err.code) {
      case 'UND_ERR_CONNECT_TIMEOUT':
        return new TimeoutError(`no connection to PVE at ${this.origin} within ${this.timeoutMs} ms (${where})`, {
          requestSent: false,
          request,
          cause: err,
        });
      case 'UND_ERR_HEADERS_TIMEOUT':
      case 'UND_ERR_BODY_TIMEOUT':
        return new TimeoutError(`PVE at ${this.origin} did not answer ${where} within ${this.timeoutMs} ms`, {
          requestSent: sent,
          request,
          cause: err,
        });
    }
    const code = err.code ?? 'UNKNOWN';
    const message = sent
      ? `connection to PVE at ${this.origin} failed during ${where} (${code}): ${err.message}`
      : `cannot reach PVE at ${this.origin} (${code}) for ${where}: ${err.message}`;
    return new NetworkError(message, { code: err.code, requestSent: sent, request, cause: err });
  }
}
