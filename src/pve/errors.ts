import { redact } from '../core/secrets.js';

/** Where a failed call went: shown in messages so an admin can reproduce it with pvesh. */
export interface RequestInfo {
  method: string;
  /** API path without `/api2/json`, e.g. `/nodes/pve1/qemu/100/status/shutdown`. */
  path: string;
}

export interface PveErrorOptions {
  status?: number;
  /** PVE's own text, from the body `message` or the reason phrase. */
  pveMessage?: string;
  request?: RequestInfo;
  cause?: unknown;
}

/**
 * Base of every error the PVE client throws. The message always passes through redact(), so a
 * registered secret (token secret, ticket, password) never leaves in an error text.
 */
export class PveError extends Error {
  readonly status?: number;
  readonly pveMessage?: string;
  readonly request?: RequestInfo;

  constructor(message: string, opts: PveErrorOptions = {}) {
    super(redact(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.status = opts.status;
    this.pveMessage = opts.pveMessage === undefined ? undefined : redact(opts.pveMessage);
    this.request = opts.request;
  }
}

/** Bad client configuration (options, token file, CA file). Never retried. */
export class PveConfigError extends PveError {}

/** 401: wrong or expired token/ticket, or a failed login. */
export class AuthenticationError extends PveError {}

/** 403. `privilege` and `aclPath` are filled from `Permission check failed (/vms/100, VM.PowerMgmt)`. */
export class PermissionError extends PveError {
  readonly privilege?: string;
  readonly aclPath?: string;

  constructor(message: string, opts: PveErrorOptions & { privilege?: string; aclPath?: string }) {
    super(message, opts);
    this.privilege = opts.privilege;
    this.aclPath = opts.aclPath;
  }
}

/** 595: pveproxy could not forward the call to `node` (down, rebooting, network split). */
export class NodeUnreachableError extends PveError {
  readonly node?: string;

  constructor(message: string, opts: PveErrorOptions & { node?: string }) {
    super(message, opts);
    this.node = opts.node;
  }
}

/** 404, 501 (no such API method on this PVE version) or 500 `… does not exist`. */
export class NotFoundError extends PveError {}

/** 400 `Parameter verification failed.` with PVE's per-parameter messages. */
export class ParameterError extends PveError {
  readonly errors: Record<string, string>;

  constructor(message: string, opts: PveErrorOptions & { errors?: Record<string, string> }) {
    super(message, opts);
    this.errors = opts.errors ?? {};
  }
}

/** 5xx other than 595. */
export class ServerError extends PveError {}

/**
 * The guest already is in the state an action would bring it to: PVE's 500 `CT 101 not running`
 * (LXC shutdown/stop of a stopped container) or `VM 100 already running`, or PveClient's own
 * finding when it verifies a power action whose answer was lost. `state` is where the guest is.
 */
export class GuestStateError extends ServerError {
  readonly state: 'stopped' | 'running';

  constructor(message: string, opts: PveErrorOptions & { state: 'stopped' | 'running' }) {
    super(message, opts);
    this.state = opts.state;
  }
}

/** 500 from a Ceph endpoint on a node without Ceph (`binary not installed`, `not initialized`). */
export class CephNotInstalledError extends ServerError {}

/**
 * Transport failures carry `requestSent`: false only when the connection failed before a byte of
 * the request was written, which is the one case where a POST may be repeated without checking.
 */
export class TimeoutError extends PveError {
  readonly requestSent: boolean;

  constructor(message: string, opts: PveErrorOptions & { requestSent: boolean }) {
    super(message, opts);
    this.requestSent = opts.requestSent;
  }
}

/** waitTask gave up while the task was still running (the task itself goes on). */
export class TaskTimeoutError extends TimeoutError {
  readonly upid: string;

  constructor(upid: string, timeoutMs: number) {
    super(`task ${upid} still running after ${timeoutMs} ms`, { requestSent: true });
    this.upid = upid;
  }
}

/** Connection refused, reset, unreachable, DNS, closed client… `code` is the system/undici code. */
export class NetworkError extends PveError {
  readonly code?: string;
  readonly requestSent: boolean;

  constructor(message: string, opts: PveErrorOptions & { code?: string; requestSent: boolean }) {
    super(message, opts);
    this.code = opts.code;
    this.requestSent = opts.requestSent;
  }
}

/** The certificate chain did not verify against the configured CA (or the name did not match). */
export class TlsError extends PveError {
  readonly code?: string;

  constructor(message: string, opts: PveErrorOptions & { code?: string }) {
    super(message, opts);
    this.code = opts.code;
  }
}

/** The server's certificate is not the pinned one. Raised before any request byte is sent. */
export class TlsPinError extends TlsError {
  readonly host: string;
  readonly expected: string[];
  readonly actual: string;

  constructor(host: string, expected: string[], actual: string) {
    super(
      `TLS certificate pin mismatch for ${host}: expected ${expected.join(' or ')}, got ${actual}. ` +
        `If the node certificate was renewed, check the new fingerprint on the node ` +
        `(pvenode cert info) and update the configuration.`,
      { code: 'ERR_TLS_PIN_MISMATCH' },
    );
    this.host = host;
    this.expected = expected;
    this.actual = actual;
  }
}

const PERMISSION_RE = /Permission check failed \(([^,()]+),\s*([^()]+)\)/;
const CEPH_MISSING_RE =
  /binary not installed|binaries not installed|pveceph configuration not (?:initialized|enabled)|ceph not fully configured/i;
const GUEST_STATE_RE = /^(?:VM|CT) \d+ (not|already) running/;

/** The node a `/nodes/{node}/…` path is proxied to. */
function nodeOfPath(path: string): string | undefined {
  const m = /^\/nodes\/([^/]+)/.exec(path);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/**
 * Maps a non-200 answer to its error class. PVE puts its message in the reason phrase and, since
 * PVE 8.3, also in the body (`message`, plus `errors` for 400).
 */
export function errorFromResponse(
  status: number,
  reason: string,
  body: { message?: unknown; errors?: unknown } | undefined,
  request: RequestInfo,
): PveError {
  const bodyMessage = typeof body?.message === 'string' ? body.message.trim() : '';
  const pveMessage = bodyMessage || reason.trim() || `HTTP ${status}`;
  const where = `${request.method} ${request.path}`;
  const opts = { status, pveMessage, request };

  switch (status) {
    case 401:
      return new AuthenticationError(
        `authentication failed: PVE rejected the credentials (401 ${pveMessage}) on ${where}: check the API token id and secret, or the user and password`,
        opts,
      );
    case 403: {
      const m = PERMISSION_RE.exec(pveMessage);
      const aclPath = m?.[1].trim();
      const privilege = m?.[2].trim();
      const detail = m ? `: the API token lacks ${privilege} on ${aclPath}` : ` (403 ${pveMessage})`;
      return new PermissionError(`permission denied for ${where}${detail}`, { ...opts, privilege, aclPath });
    }
    case 595: {
      const node = nodeOfPath(request.path);
      return new NodeUnreachableError(`node ${node ?? '?'} is unreachable (595 ${pveMessage}) for ${where}`, {
        ...opts,
        node,
      });
    }
    case 400: {
      const errors: Record<string, string> = {};
      if (body?.errors && typeof body.errors === 'object') {
        for (const [k, v] of Object.entries(body.errors)) errors[k] = String(v).trim();
      }
      const list = Object.entries(errors).map(([k, v]) => `${k}: ${v}`);
      return new ParameterError(`PVE refused ${where}: ${pveMessage}${list.length ? ` (${list.join('; ')})` : ''}`, {
        ...opts,
        errors,
      });
    }
    case 404:
    case 501:
      return new NotFoundError(`${where}: ${status} ${pveMessage}`, opts);
  }
  if (status >= 500) {
    const message = `${where} failed: ${status} ${pveMessage}`;
    if (/does not exist/.test(pveMessage)) return new NotFoundError(message, opts);
    if (CEPH_MISSING_RE.test(pveMessage)) return new CephNotInstalledError(message, opts);
    const state = GUEST_STATE_RE.exec(pveMessage);
    if (state) return new GuestStateError(message, { ...opts, state: state[1] === 'not' ? 'stopped' : 'running' });
    return new ServerError(message, opts);
  }
  return new PveError(`${where}: unexpected ${status} ${pveMessage}`, opts);
}
