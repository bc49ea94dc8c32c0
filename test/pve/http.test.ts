import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTestPki } from '../../src/sim/pve/pki.js';
import { PveClient } from '../../src/pve/client.js';
import {
  AuthenticationError,
  NetworkError,
  PveConfigError,
  ServerError,
  TimeoutError,
  TlsError,
  TlsPinError,
} from '../../src/pve/errors.js';
import { PveHttp, encodeParams } from '../../src/pve/http.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FakePve } from './helpers/fake-pve.js';
import { TestServer, testPki, type Recorded } from './helpers/server.js';
import { TOKEN_ID, TOKEN_SECRET, captureLogger, startFake } from './helpers/setup.js';

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function tmpFile(name: string, content: string, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvepower-pve-'));
  tmpDirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const wrongFingerprint = 'AA:'.repeat(31) + 'AA';

test('API token: Authorization header in PVE format, no cookie or CSRF', async () => {
  const { server, client, close } = await startFake();
  try {
    await client().version();
    const req = server.requests[0];
    assert.equal(req.headers.authorization, `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`);
    assert.equal(req.headers.cookie, undefined);
    assert.equal(req.headers.csrfpreventiontoken, undefined);
  } finally {
    await close();
  }
});

test('parameters: query for GET, form body for POST, booleans 1/0, arrays repeated, undefined dropped', async () => {
  const seen: Recorded[] = [];
  const server = await TestServer.start((req) => {
    seen.push(req);
    return { data: 'ok' };
  });
  const http = new PveHttp({ host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem });
  try {
    await http.call('GET', '/nodes/pve1/tasks', { vmid: 100, errors: true, skip: undefined, none: null });
    await http.call('POST', '/nodes/pve1/stopall', { 'force-stop': false, timeout: 30, vms: [100, 101], gone: undefined });
    assert.equal(seen[0].rawUrl, '/api2/json/nodes/pve1/tasks?vmid=100&errors=1');
    assert.equal(seen[1].rawUrl, '/api2/json/nodes/pve1/stopall');
    assert.equal(seen[1].headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(seen[1].params, { 'force-stop': ['0'], timeout: ['30'], vms: ['100', '101'] });
    assert.equal(encodeParams({ text: 'a b&c=d' }), 'text=a%20b%26c%3Dd');
    assert.throws(() => encodeParams({ nested: { a: 1 } }), TypeError);
  } finally {
    await http.close();
    await server.close();
  }
});

test('path values: UPIDs stay readable, other reserved characters are escaped', async () => {
  const seen: Recorded[] = [];
  const server = await TestServer.start((req) => {
    seen.push(req);
    return { data: null };
  });
  const http = new PveHttp({ host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem });
  try {
    const upid = 'UPID:pve1:00001234:0002A000:6B055E5B:qmshutdown:100:pvepower@pve!ups:';
    await http.api.nodes.$('pve1').tasks.$(upid).status.$get();
    await http.api.nodes.$('a b/c?').status.$get();
    assert.equal(seen[0].rawUrl, `/api2/json/nodes/pve1/tasks/${upid}/status`);
    assert.equal(seen[0].path, `/nodes/pve1/tasks/${upid}/status`);
    assert.equal(seen[1].rawUrl, '/api2/json/nodes/a%20b%2Fc%3F/status');
  } finally {
    await http.close();
    await server.close();
  }
});

test('TLS: the CA verifies the chain, given as PEM or as a file, by IP or by name', async () => {
  const { server, client, close } = await startFake();
  try {
    const caFile = tmpFile('pve-root-ca.pem', server.pki.caPem, 0o644);
    assert.equal((await client({ ca: caFile }).version()).version, '9.2.11');
    assert.equal((await client({ host: 'localhost' }).version()).version, '9.2.11');
  } finally {
    await close();
  }
});

test('TLS: a certificate from another CA is refused before any request', async () => {
  const { server, client, close } = await startFake();
  try {
    const other = await generateTestPki('other');
    await assert.rejects(client({ ca: other.caPem }).version(), (err: unknown) => {
      assert.ok(err instanceof TlsError && !(err instanceof TlsPinError));
      assert.match(err.message, /not trusted/);
      assert.match(err.message, /127\.0\.0\.1/);
      return true;
    });
    assert.equal(server.requests.length, 0);
  } finally {
    await close();
  }
});

test('TLS: a pinned fingerprint is accepted in any case, with or without colons', async () => {
  const { server, client, close } = await startFake();
  try {
    const fp = server.pki.fingerprint;
    assert.equal((await client({ ca: undefined, fingerprint: fp }).version()).release, '9.2');
    const bare = fp.replace(/:/g, '').toLowerCase();
    assert.equal((await client({ ca: undefined, fingerprint: bare }).version()).release, '9.2');
    // A per-node map: a host that is not a key accepts any of the cluster's fingerprints.
    assert.equal((await client({ ca: undefined, fingerprint: { pve1: fp, pve2: wrongFingerprint } }).version()).release, '9.2');
  } finally {
    await close();
  }
});

test('TLS: a wrong pin fails with TlsPinError naming the host and both fingerprints, and no request is sent', async () => {
  const { server, client, close } = await startFake();
  try {
    for (const fingerprint of [wrongFingerprint, { '127.0.0.1': wrongFingerprint, pve1: server.pki.fingerprint }]) {
      await assert.rejects(client({ ca: undefined, fingerprint }).shutdownNode('pve1'), (err: unknown) => {
        assert.ok(err instanceof TlsPinError);
        assert.equal(err.host, '127.0.0.1');
        assert.match(err.message, /127\.0\.0\.1/);
        assert.ok(err.message.includes(wrongFingerprint));
        assert.ok(err.message.includes(server.pki.fingerprint));
        return true;
      });
    }
    assert.ok(server.connections >= 2, 'the client connected');
    assert.equal(server.requests.length, 0, 'but no request reached the server');
  } finally {
    await close();
  }
});

test('TLS: without CA or fingerprint the client refuses to exist', () => {
  assert.throws(
    () => new PveClient({ host: '127.0.0.1', tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET }),
    (err: unknown) => err instanceof PveConfigError && /ca.*fingerprint/.test(err.message),
  );
  assert.throws(
    () => new PveClient({ host: '127.0.0.1', tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, fingerprint: 'AB:CD' }),
    PveConfigError,
  );
  assert.throws(
    () => new PveClient({ host: '127.0.0.1', tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: '/nonexistent/ca.pem' }),
    /cannot read the CA file \/nonexistent\/ca\.pem/,
  );
});

test('token id and secret are validated; the secret file must be private', async () => {
  const { server, client, close } = await startFake();
  try {
    assert.throws(() => client({ tokenId: 'pvepower@pve' }), /invalid API token id "pvepower@pve": expected USER@REALM!TOKENID/);
    assert.throws(() => client({ tokenId: 'pvepower!ups' }), PveConfigError);

    const open = tmpFile('token', `${TOKEN_SECRET}\n`, 0o644);
    assert.throws(
      () => client({ tokenSecret: undefined, tokenSecretFile: open }),
      (err: unknown) =>
        err instanceof PveConfigError && err.message.includes(open) && err.message.includes(`chmod 600 ${open}`) && /0644/.test(err.message),
    );
    chmodSync(open, 0o640);
    assert.throws(() => client({ tokenSecret: undefined, tokenSecretFile: open }), /chmod 600/);

    // Mode 0600 is accepted and the trailing newline trimmed.
    chmodSync(open, 0o600);
    await client({ tokenSecret: undefined, tokenSecretFile: open }).version();
    assert.equal(server.requests.at(-1)!.headers.authorization, `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`);

    const pasted = tmpFile('token2', `${TOKEN_ID}=${TOKEN_SECRET}`, 0o600);
    assert.throws(
      () => client({ tokenSecret: undefined, tokenSecretFile: pasted }),
      (err: unknown) => err instanceof PveConfigError && /not a UUID/.test(err.message) && !err.message.includes(TOKEN_SECRET),
    );
    assert.throws(() => client({ tokenSecretFile: pasted }), /either tokenSecret or tokenSecretFile/);
    assert.throws(() => client({ tokenSecret: undefined, tokenSecretFile: '/nonexistent/token' }), /\/nonexistent\/token/);
  } finally {
    await close();
  }
});

test('GET is retried on 500 and succeeds; a POST answered 500 is not repeated', async () => {
  const { fake, server, client, close } = await startFake();
  const log = captureLogger();
  try {
    let failures = 1;
    fake.override('GET /version', () => (failures-- > 0 ? { status: 500, reason: 'temporary' } : { data: { version: '9.2.11', release: '9.2' } }));
    fake.override('POST /nodes/{node}/status', () => ({ status: 500, reason: 'command failed' }));
    const c = client({ logger: log.logger });
    assert.equal((await c.version()).version, '9.2.11');
    assert.equal(server.requests.filter((r) => r.path === '/version').length, 2);
    assert.match(log.text(), /PVE GET \/version failed, retrying/);

    await assert.rejects(c.shutdownNode('pve1'), ServerError);
    assert.equal(server.requests.filter((r) => r.method === 'POST').length, 1);
  } finally {
    await close();
  }
});

/** A client for a port nothing listens on yet, with its backoff on a manual clock. */
async function refusedSetup(retryDelayMs: number) {
  const port = await freePort();
  const clock = new ManualClock();
  const log = captureLogger();
  const pki = await testPki();
  const client = new PveClient({
    host: '127.0.0.1', port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: pki.caPem, clock, logger: log.logger, retryDelayMs,
  });
  const fake = new FakePve();
  let server: TestServer | undefined;
  return {
    client,
    fake,
    /** Waits for the first refused attempt, starts the server during the backoff, ends the backoff. */
    async serverComesUp(): Promise<TestServer> {
      while (!log.text().includes('retrying')) await new Promise((r) => setTimeout(r, 5));
      assert.match(log.text(), /ECONNREFUSED/);
      server = await TestServer.start(fake.handle, { port });
      await clock.advance(retryDelayMs);
      return server;
    },
    async close() {
      await client.close();
      await server?.close();
    },
  };
}

test('a GET refused at connect time is retried after the backoff on the clock', async () => {
  const t = await refusedSetup(1000);
  try {
    const result = t.client.version();
    const server = await t.serverComesUp();
    assert.equal((await result).version, '9.2.11');
    assert.equal(server.requests.length, 1);
  } finally {
    await t.close();
  }
});

test('a POST refused at connect time is sent once when the server comes up', async () => {
  const t = await refusedSetup(500);
  try {
    const result = t.client.shutdownNode('pve2');
    const server = await t.serverComesUp();
    await result;
    assert.deepEqual(server.requests.map((r) => `${r.method} ${r.path}`), ['POST /nodes/pve2/status']);
    assert.equal(t.fake.nodes[1].online, false);
  } finally {
    await t.close();
  }
});

test('a POST whose connection dies after sending is not repeated by the transport', async () => {
  const server = await TestServer.start(() => ({ destroy: true }));
  const http = new PveHttp({ host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem, retryDelayMs: 1 });
  try {
    await assert.rejects(http.call('POST', '/nodes/pve1/status', { command: 'shutdown' }), (err: unknown) => {
      assert.ok(err instanceof NetworkError);
      assert.equal(err.requestSent, true);
      return true;
    });
    assert.equal(server.requests.length, 1);
    // The same failure on a GET is retried (2 retries by default).
    await assert.rejects(http.call('GET', '/version'), NetworkError);
    assert.equal(server.requests.length, 4);
  } finally {
    await http.close();
    await server.close();
  }
});

test('a slow answer ends in TimeoutError marked as sent', async () => {
  const server = await TestServer.start(() => ({ delayMs: 1000, data: null }));
  const http = new PveHttp({
    host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem, timeoutMs: 200, retries: 0,
  });
  try {
    await assert.rejects(http.call('POST', '/nodes/pve1/wakeonlan'), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.requestSent, true);
      assert.match(err.message, /did not answer POST \/nodes\/pve1\/wakeonlan within 200 ms/);
      return true;
    });
  } finally {
    await http.close();
    await server.close();
  }
});

test('ticket login: cookie, CSRF token on writes only, new login after the ticket expires', async () => {
  const fake = new FakePve();
  fake.login = { username: 'root@pam', password: 'hunter2-long-password' };
  const server = await TestServer.start(fake.handle);
  const log = captureLogger();
  const client = new PveClient({
    host: '127.0.0.1', port: server.port, username: 'root@pam', password: 'hunter2-long-password', ca: server.pki.caPem, logger: log.logger,
  });
  try {
    // Concurrent first calls share one login.
    await Promise.all([client.version(), client.guests()]);
    assert.equal(server.requests.filter((r) => r.path === '/access/ticket').length, 1);
    const login = server.requests.find((r) => r.path === '/access/ticket')!;
    assert.deepEqual(login.params, { username: ['root@pam'], password: ['hunter2-long-password'] });

    await client.wakeNode('pve2');
    const post = server.requests.at(-1)!;
    assert.equal(post.headers.csrfpreventiontoken, `csrf-${fake.issuedTickets[0]}`);
    const get = server.requests.find((r) => r.path === '/version')!;
    assert.equal(get.headers.csrfpreventiontoken, undefined);
    assert.match(String(get.headers.cookie), /^PVEAuthCookie=/);

    // The server forgets the ticket (expired after 2 h): one 401, a new login, the call repeated.
    fake.issuedTickets.push('expired-elsewhere');
    await client.shutdownNode('pve2');
    assert.equal(server.requests.filter((r) => r.path === '/access/ticket').length, 2);
    assert.deepEqual(
      server.requests.slice(-3).map((r) => `${r.method} ${r.path}`),
      ['POST /nodes/pve2/status', 'POST /access/ticket', 'POST /nodes/pve2/status'],
    );
    assert.match(log.text(), /ticket rejected, logging in again/);
  } finally {
    await client.close();
    await server.close();
  }
});

test('ticket login with a wrong password: AuthenticationError without the password', async () => {
  const fake = new FakePve();
  fake.login = { username: 'root@pam', password: 'right-password-123' };
  const server = await TestServer.start(fake.handle);
  const client = new PveClient({ host: '127.0.0.1', port: server.port, username: 'root@pam', password: 'wrong-password-456', ca: server.pki.caPem });
  try {
    await assert.rejects(client.version(), (err: unknown) => {
      assert.ok(err instanceof AuthenticationError);
      assert.match(err.message, /login as root@pam failed: authentication failure/);
      assert.ok(!err.message.includes('wrong-password-456'));
      return true;
    });
  } finally {
    await client.close();
    await server.close();
  }
});

test('secrets never appear in error messages or log lines, even when the server echoes them', async () => {
  const ticketSecret = 'ticket-password-ABCDEF-987';
  const fake = new FakePve();
  fake.tokenHeader = `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`;
  const echo = (req: Recorded) => ({
    status: 500,
    reason: `bad header ${req.headers.authorization ?? req.headers.cookie}`,
    body: { data: null, message: `you sent ${req.headers.authorization ?? req.headers.cookie} and ${ticketSecret}` },
  });
  fake.override('GET /cluster/resources', echo);
  fake.override('POST /nodes/{node}/status', echo);
  const server = await TestServer.start(fake.handle);
  const log = captureLogger();
  const token = new PveClient({
    host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem, logger: log.logger, retryDelayMs: 1,
  });
  const ticketFake = new FakePve();
  ticketFake.login = { username: 'root@pam', password: ticketSecret };
  ticketFake.override('GET /cluster/resources', echo);
  const ticketServer = await TestServer.start(ticketFake.handle);
  const ticket = new PveClient({
    host: '127.0.0.1', port: ticketServer.port, username: 'root@pam', password: ticketSecret, ca: ticketServer.pki.caPem,
    logger: log.logger, retryDelayMs: 1,
  });
  const messages: string[] = [];
  const collect = (err: unknown) => {
    const e = err as Error & { pveMessage?: string };
    messages.push(e.message, e.pveMessage ?? '', String(e.stack));
  };
  try {
    await token.guests().catch(collect);
    await token.shutdownNode('pve1').catch(collect);
    await ticket.guests().catch(collect);
    const issued = ticketFake.issuedTickets[0];
    assert.ok(issued);
    assert.ok(messages.some((m) => m.includes('***')), 'the echoed secret was redacted');
    for (const secret of [TOKEN_SECRET, ticketSecret, issued]) {
      for (const m of messages) assert.ok(!m.includes(secret), `secret leaked in error: ${m}`);
      assert.ok(!log.text().includes(secret), 'secret leaked in the log');
    }
    assert.match(log.text(), /retrying/, 'the failures were logged');
  } finally {
    await token.close();
    await ticket.close();
    await server.close();
    await ticketServer.close();
  }
});

test('close() fails calls in flight at once and stops a task wait', async () => {
  const fake = new FakePve();
  fake.tokenHeader = `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`;
  fake.override('GET /version', () => ({ delayMs: 5000, data: { version: 'x', release: 'y' } }));
  const server = await TestServer.start(fake.handle);
  const client = new PveClient({ host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem });
  try {
    fake.nextTask = { runningPolls: 1000, exitstatus: 'OK' };
    const upid = await client.startGuest({ node: 'pve1', type: 'qemu', vmid: 9000 });
    const settled = Promise.allSettled([client.waitTask(upid, { pollMs: 60_000 }), client.version()]);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await client.close();
    for (const r of await settled) {
      assert.equal(r.status, 'rejected');
      const err = (r as PromiseRejectedResult).reason;
      assert.ok(err instanceof NetworkError && err.code === 'CLIENT_CLOSED', String(err));
    }
    assert.ok(Date.now() - started < 1000);
    await assert.rejects(client.version(), /closed/);
  } finally {
    await server.close();
  }
});

test('a CLI-like process exits promptly after close()', async () => {
  const { server, close } = await startFake();
  try {
    server.setHandler((req) => (req.path === '/cluster/resources' ? { delayMs: 30_000, data: [] } : { data: { version: '9.2.11', release: '9.2' } }));
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'cli-child.ts')], {
      env: { ...process.env, PVE_PORT: String(server.port), PVE_TOKEN_ID: TOKEN_ID, PVE_TOKEN_SECRET: TOKEN_SECRET, PVE_CA: server.pki.caPem },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let closedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!closedAt && out.includes('closed')) closedAt = Date.now();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lingered = Date.now() - closedAt;
    assert.equal(code, 0, err);
    assert.match(out, /version 9\.2\.11\npending: NetworkError\nclosed\n/);
    assert.ok(closedAt > 0 && lingered < 2000, `process lingered ${lingered} ms after close()`);
  } finally {
    await close();
  }
});
