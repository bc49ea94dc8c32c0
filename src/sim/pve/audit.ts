/**
 * Every request the simulator saw, in order: when (simulated time), who, what, and how it ended.
 * Parameters that carry secrets are masked; the Authorization header is never recorded.
 */
export interface AuditEntry {
  seq: number;
  /** Simulated epoch milliseconds when the request arrived. */
  at: number;
  method: string;
  /** Path below /api2/json, e.g. `/nodes/pve1/qemu/100/status/shutdown`. */
  path: string;
  /** Query, body and path parameters merged, secrets masked. */
  params: Record<string, unknown>;
  /** `user@realm` or `user@realm!token`; undefined before (or without) authentication. */
  user?: string;
  status: number;
  /** The reason phrase for errors. */
  message?: string;
  /** The injected fault that hit this request, if any. */
  fault?: string;
  /** The UPID when the call started a task. */
  upid?: string;
}

const SECRET_PARAM = /password|secret|ticket|token|otp/i;

export function maskParams(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, SECRET_PARAM.test(k) ? '***' : v]));
}

export class AuditLog {
  private readonly list: AuditEntry[] = [];
  private seq = 0;

  add(entry: Omit<AuditEntry, 'seq'>): AuditEntry {
    const full = { seq: ++this.seq, ...entry, params: maskParams(entry.params) };
    this.list.push(full);
    return full;
  }

  entries(): readonly AuditEntry[] {
    return this.list;
  }

  /** Entries for one method and a path pattern (`*` one segment, `**` any). */
  find(method: string | undefined, pattern: string): AuditEntry[] {
    const re = pathPattern(pattern);
    return this.list.filter((e) => (!method || e.method === method) && re.test(e.path));
  }

  clear(): void {
    this.list.length = 0;
  }
}

/** `/nodes/*\/qemu/**` style patterns for paths below /api2/json. */
export function pathPattern(pattern: string): RegExp {
  const rel = pattern.replace(/^\/api2\/json(?=\/)/, '');
  const body = rel
    .split('/')
    .map((seg) => (seg === '**' ? '.*' : seg.split('*').map(escapeRe).join('[^/]*')))
    .join('/');
  return new RegExp(`^${body.replace(/\/\.\*/g, '(?:/.*)?')}/?$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
