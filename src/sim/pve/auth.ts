import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { ApiError, permError } from './errors.js';
import type { PermissionSpec } from './schema.js';
import type { Privileges, ScenarioUser } from './scenario.js';

/**
 * Users, API tokens, tickets and privileges, with pveproxy's messages: token errors from
 * PVE::AccessControl::verify_token, `permission denied - invalid PVE ticket`, the CSRF check on
 * every non-GET ticket request, and check_api2_permissions for the schema's `permissions`.
 */
export interface Principal {
  /** `user@realm`, or `user@realm!tokenid` for an API token (what UPIDs and tasks carry). */
  userid: string;
  user: string;
  tokenid?: string;
}

/** Most specific ACL path first; `undefined` privileges means all of them. */
type Acl = Array<{ path: string; privs: Set<string> }> | undefined;

interface UserEntry {
  userid: string;
  password?: string;
  acl: Acl;
  tokens: Map<string, { secret: string; acl: Acl }>;
}

const TICKET_LIFETIME_S = 7200;
const ROOT = 'root@pam';

function toAcl(p: Privileges | undefined): Acl {
  if (p === undefined) return undefined;
  const entries = Array.isArray(p) ? [['/', p] as const] : Object.entries(p);
  return entries
    .map(([path, privs]) => ({ path: normalizePath(path), privs: new Set(privs) }))
    .sort((a, b) => b.path.length - a.path.length);
}

/** PVE::AccessControl::normalize_path. */
export function normalizePath(path: string): string {
  const p = `/${path}`.replace(/\/+/g, '/').replace(/\/$/, '');
  return p === '' ? '/' : p;
}

function covers(aclPath: string, path: string): boolean {
  return aclPath === '/' || path === aclPath || path.startsWith(`${aclPath}/`);
}

function aclPrivs(acl: Acl, path: string): Set<string> | 'all' {
  if (acl === undefined) return 'all';
  return acl.find((e) => covers(e.path, path))?.privs ?? new Set();
}

export interface Credentials {
  tokenId: string;
  tokenSecret: string;
  username: string;
  password: string;
}

export class AuthStore {
  private readonly users = new Map<string, UserEntry>();
  private readonly key = randomBytes(32);
  /** The first token and the first password, for the simulator's handle and CLI line. */
  readonly credentials: Credentials;

  constructor(
    users: readonly ScenarioUser[],
    private readonly clock: Clock,
  ) {
    for (const u of users) {
      this.users.set(u.userid, {
        userid: u.userid,
        password: u.password,
        acl: toAcl(u.privileges),
        tokens: new Map(u.tokens.map((t) => [t.id, { secret: t.secret ?? randomUUID(), acl: toAcl(t.privileges) }])),
      });
    }
    // Every PVE has root@pam; a scenario without users still needs a way in.
    if (!this.users.has(ROOT)) this.users.set(ROOT, { userid: ROOT, acl: undefined, tokens: new Map() });
    const root = this.users.get(ROOT)!;
    root.password ??= randomBytes(12).toString('base64url');
    const withToken = [...this.users.values()].find((u) => u.tokens.size > 0);
    if (!withToken) root.tokens.set('pvepower', { secret: randomUUID(), acl: undefined });
    const tokenUser = withToken ?? root;
    const [tokenName, token] = [...tokenUser.tokens][0]!;
    const withPassword = [...this.users.values()].find((u) => u.password !== undefined)!;
    this.credentials = {
      tokenId: `${tokenUser.userid}!${tokenName}`,
      tokenSecret: token.secret,
      username: withPassword.userid,
      password: withPassword.password!,
    };
  }

  /** PVE::AccessControl::verify_token; failures are bodyless 401s. */
  verifyToken(value: string): Principal {
    const m = /^(.*)=(.*)$/s.exec(value);
    if (!m) throw unauthorized('no tokenid specified');
    const [, tokenid, secret] = m as unknown as [string, string, string];
    const t = /^(.+)!(.+)$/.exec(tokenid);
    if (!t) throw unauthorized(`'${tokenid}' is not a valid token ID`);
    const [, userid, name] = t as unknown as [string, string, string];
    const user = this.users.get(userid);
    if (!user) throw unauthorized(`no such user ('${userid}')`);
    const token = user.tokens.get(name);
    if (!token) throw unauthorized(`no such token '${name}' for user '${userid}'`);
    if (!safeEqual(token.secret, secret)) throw unauthorized('invalid token value!');
    return { userid: tokenid, user: userid, tokenid: name };
  }

  /** POST /access/ticket: a password, or a still-valid ticket to renew. */
  login(username: string, password: string, realm?: string): { userid: string; ticket: string; csrf: string } {
    const userid = username.includes('@') || !realm ? username : `${username}@${realm}`;
    const user = this.users.get(userid);
    const renewing = password.startsWith('PVE:') && this.ticketUser(password) === userid;
    if (!user || !(renewing || (user.password !== undefined && safeEqual(user.password, password)))) {
      // PVE says nothing more, so user names cannot be probed.
      throw new ApiError(401, 'authentication failure\n');
    }
    return { userid, ticket: this.makeTicket(userid), csrf: this.makeCsrf(userid) };
  }

  verifyTicket(ticket: string): Principal {
    const userid = this.ticketUser(ticket);
    if (!userid) throw unauthorized('permission denied - invalid PVE ticket');
    return { userid, user: userid };
  }

  verifyCsrf(userid: string, token: string | undefined): void {
    const m = token ? /^([0-9A-F]{8}):(.+)$/.exec(token) : null;
    const age = m ? Math.floor(this.clock.now() / 1000) - parseInt(m[1]!, 16) : Infinity;
    if (!m || age < -300 || age > TICKET_LIFETIME_S || !safeEqual(this.sign(`${m[1]}:${userid}`), m[2]!)) {
      throw unauthorized('Permission denied - invalid csrf token');
    }
  }

  private makeTicket(userid: string): string {
    const data = `PVE:${userid}:${hex8(Math.floor(this.clock.now() / 1000))}`;
    return `${data}::${this.sign(data)}`;
  }

  private makeCsrf(userid: string): string {
    const ts = hex8(Math.floor(this.clock.now() / 1000));
    return `${ts}:${this.sign(`${ts}:${userid}`)}`;
  }

  private ticketUser(ticket: string): string | undefined {
    const m = /^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!m || !safeEqual(this.sign(m[1]!), m[4]!)) return undefined;
    const age = Math.floor(this.clock.now() / 1000) - parseInt(m[3]!, 16);
    if (age < -300 || age > TICKET_LIFETIME_S || !this.users.has(m[2]!)) return undefined;
    return m[2];
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64').replace(/=+$/, '');
  }

  /** The privileges a principal holds on an ACL path; root@pam (not its tokens) holds all. */
  privileges(p: Principal, path: string): Set<string> | 'all' {
    if (p.userid === ROOT) return 'all';
    const user = this.users.get(p.user);
    if (!user) return new Set();
    const norm = normalizePath(path);
    const own = aclPrivs(user.acl, norm);
    if (p.tokenid === undefined) return own;
    const token = user.tokens.get(p.tokenid);
    if (!token || token.acl === undefined) return own;
    const tok = aclPrivs(token.acl, norm);
    if (own === 'all') return tok;
    if (tok === 'all') return own;
    return new Set([...tok].filter((x) => own.has(x)));
  }

  has(p: Principal, path: string, priv: string): boolean {
    const privs = this.privileges(p, path);
    return privs === 'all' || privs.has(priv);
  }

  /** PVE's check_api2_permissions for a method's `permissions` block. */
  checkPermissions(spec: PermissionSpec | undefined, p: Principal | undefined, params: Record<string, unknown>): void {
    if (!p) {
      if (spec?.user === 'world') return;
      throw permError('user != null');
    }
    if (p.userid === ROOT) return;
    if (!spec) throw permError('user != root@pam');
    if (spec.user === 'all') return;
    if (spec.check) {
      this.runCheck(spec.check, p, params, false);
      return;
    }
    throw permError();
  }

  private runCheck(check: readonly unknown[], p: Principal, params: Record<string, unknown>, noerr: boolean): boolean {
    const [test, ...rest] = check;
    if (test === 'and') {
      for (const sub of rest) if (!this.runCheck(sub as unknown[], p, params, noerr)) return false;
      return true;
    }
    if (test === 'or') {
      if (rest.some((sub) => this.runCheck(sub as unknown[], p, params, true))) return true;
      if (noerr) return false;
      throw permError();
    }
    if (test === 'perm') {
      const [template, privs, ...opts] = rest as [string, string[], ...unknown[]];
      const any = opts[0] === 'any' && Boolean(opts[1]);
      const path = normalizePath(template.replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? '')));
      if (any) {
        if (privs.some((priv) => this.has(p, path, priv))) return true;
        if (noerr) return false;
        throw permError(`${path}, ${privs.join('|')}`);
      }
      for (const priv of privs) {
        if (this.has(p, path, priv)) continue;
        if (noerr) return false;
        throw permError(`${path}, ${priv}`);
      }
      return true;
    }
    // Checks the simulator's endpoints never use (userid-param, perm-modify…) are refused.
    if (noerr) return false;
    throw permError();
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, message, undefined, true);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function hex8(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}
