import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateTestPki, type TestPki } from '../../../src/sim/pve/pki.js';

/** A request as the test server saw it, parameters decoded like pveproxy does. */
export interface Recorded {
  method: string;
  /** Decoded path without /api2/json. */
  path: string;
  rawUrl: string;
  params: Record<string, string[]>;
  headers: Record<string, string | string[] | undefined>;
}

export interface Reply {
  status?: number;
  reason?: string;
  /** Sent as `{"data": …}` on 200. */
  data?: unknown;
  /** Full JSON body (overrides data). */
  body?: unknown;
  /** A non-JSON body with its own content type (a proxy's HTML page, say). */
  raw?: { contentType: string; text: string };
  /** Wait before answering (after the request was fully received). */
  delayMs?: number;
  /** Kill the connection instead of answering. */
  destroy?: boolean;
}

export type Handler = (req: Recorded) => Reply | Promise<Reply>;

let sharedPki: Promise<TestPki> | undefined;
/** One PKI for the whole test file: generation is fast but not free. */
export function testPki(): Promise<TestPki> {
  sharedPki ??= generateTestPki('pve1');
  return sharedPki;
}

/**
 * Minimal pveproxy stand-in: HTTPS with the test PKI, PVE's response format (reason phrase,
 * `application/json;charset=UTF-8`, `{data}` envelope) and every request recorded.
 */
export class TestServer {
  readonly requests: Recorded[] = [];
  /** TCP connections accepted, to prove the client got here even when no request did. */
  connections = 0;
  private readonly server: https.Server;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    readonly pki: TestPki,
    private handler: Handler,
    keyPem: string,
    certPem: string,
  ) {
    this.server = https.createServer({ key: keyPem, cert: certPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'https://x');
        const params: Record<string, string[]> = {};
        const add = (k: string, v: string) => (params[k] ??= []).push(v);
        url.searchParams.forEach((v, k) => add(k, v));
        if (String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
          new URLSearchParams(Buffer.concat(chunks).toString()).forEach((v, k) => add(k, v));
        }
        const rec: Recorded = {
          method: req.method ?? '',
          path: url.pathname.replace(/^\/api2\/json/, '').split('/').map(decodeURIComponent).join('/'),
          rawUrl: req.url ?? '',
          params,
          headers: req.headers,
        };
        this.requests.push(rec);
        void Promise.resolve(this.handler(rec)).then(async (reply) => {
          if (reply.delayMs) await this.delay(reply.delayMs);
          if (reply.destroy) {
            req.socket.destroy();
            return;
          }
          const status = reply.status ?? 200;
          const body = reply.body ?? (status === 200 ? { data: reply.data ?? null } : { data: null });
          if (res.destroyed) return;
          res.writeHead(status, reply.reason ?? (status === 200 ? 'OK' : 'Error'), {
            'Content-Type': reply.raw?.contentType ?? 'application/json;charset=UTF-8',
          });
          res.end(reply.raw?.text ?? JSON.stringify(body));
        });
      });
    });
    this.server.on('connection', () => this.connections++);
  }

  static async start(handler: Handler, opts: { certPem?: string; keyPem?: string; port?: number } = {}): Promise<TestServer> {
    const pki = await testPki();
    const s = new TestServer(pki, handler, opts.keyPem ?? pki.keyPem, opts.certPem ?? pki.certPem);
    await new Promise<void>((resolve) => s.server.listen(opts.port ?? 0, '127.0.0.1', resolve));
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  setHandler(handler: Handler): void {
    this.handler = handler;
  }

  /** A reply delay that close() cancels, so a slow reply never outlives the test. */
  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
