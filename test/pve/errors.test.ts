import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthenticationError,
  CephNotInstalledError,
  GuestStateError,
  NodeUnreachableError,
  NotFoundError,
  ParameterError,
  PermissionError,
  PveError,
  ServerError,
  errorFromResponse,
} from '../../src/pve/errors.js';
import { PveHttp } from '../../src/pve/http.js';
import { TestServer, type Reply } from './helpers/server.js';
import { TOKEN_ID, TOKEN_SECRET } from './helpers/setup.js';

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  reply: Reply;
  cls: new (...args: never[]) => PveError;
  check: (err: PveError) => void;
}

const cases: Case[] = [
  {
    name: '401 from the reason phrase only (PVE < 8.3)',
    method: 'GET',
    path: '/version',
    reply: { status: 401, reason: 'authentication failure' },
    cls: AuthenticationError,
    check: (e) => {
      assert.equal(e.pveMessage, 'authentication failure');
      assert.match(e.message, /401 authentication failure.*token id and secret/);
    },
  },
  {
    name: '403 names the missing privilege and the ACL path',
    method: 'POST',
    path: '/nodes/pve1/qemu/100/status/shutdown',
    reply: {
      status: 403,
      reason: 'Permission check failed (/vms/100, VM.PowerMgmt)',
      body: { data: null, message: 'Permission check failed (/vms/100, VM.PowerMgmt)\n' },
    },
    cls: PermissionError,
    check: (e) => {
      const p = e as PermissionError;
      assert.equal(p.privilege, 'VM.PowerMgmt');
      assert.equal(p.aclPath, '/vms/100');
      assert.equal(
        p.message,
        'permission denied for POST /nodes/pve1/qemu/100/status/shutdown: the API token lacks VM.PowerMgmt on /vms/100',
      );
    },
  },
  {
    name: '403 without the usual text keeps PVE message',
    method: 'GET',
    path: '/cluster/status',
    reply: { status: 403, reason: 'Permission check failed' },
    cls: PermissionError,
    check: (e) => {
      assert.equal((e as PermissionError).privilege, undefined);
      assert.match(e.message, /403 Permission check failed/);
    },
  },
  {
    name: '595 names the unreachable node',
    method: 'GET',
    path: '/nodes/pve3/qemu/100/status/current',
    reply: { status: 595, reason: 'No route to host' },
    cls: NodeUnreachableError,
    check: (e) => {
      assert.equal((e as NodeUnreachableError).node, 'pve3');
      assert.match(e.message, /^node pve3 is unreachable \(595 No route to host\)/);
    },
  },
  {
    name: '400 lists the per-parameter errors from the body',
    method: 'POST',
    path: '/nodes/pve1/qemu/100/status/shutdown',
    reply: {
      status: 400,
      reason: 'Parameter verification failed.',
      body: { data: null, message: 'Parameter verification failed.\n', errors: { timeout: 'value must have a minimum value of 0\n' } },
    },
    cls: ParameterError,
    check: (e) => {
      assert.deepEqual((e as ParameterError).errors, { timeout: 'value must have a minimum value of 0' });
      assert.match(e.message, /Parameter verification failed\. \(timeout: value must have a minimum value of 0\)/);
    },
  },
  {
    name: '501: the method does not exist on this PVE version',
    method: 'POST',
    path: '/cluster/ha/status/disarm-ha',
    reply: { status: 501, reason: "Method 'POST /cluster/ha/status/disarm-ha' not implemented" },
    cls: NotFoundError,
    check: (e) => assert.equal(e.status, 501),
  },
  {
    name: '404',
    method: 'GET',
    path: '/nodes/pve1/nothing',
    reply: { status: 404, reason: 'Not Found' },
    cls: NotFoundError,
    check: (e) => assert.equal(e.status, 404),
  },
  {
    name: '500 for a guest that does not exist',
    method: 'GET',
    path: '/nodes/pve1/qemu/999/config',
    reply: { status: 500, reason: "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist" },
    cls: NotFoundError,
    check: (e) => assert.equal(e.status, 500),
  },
  {
    name: '500 without Ceph',
    method: 'GET',
    path: '/cluster/ceph/flags',
    reply: { status: 500, reason: 'binary not installed: /usr/bin/ceph-mon' },
    cls: CephNotInstalledError,
    check: (e) => assert.ok(e instanceof ServerError),
  },
  {
    name: '500 CT not running',
    method: 'POST',
    path: '/nodes/pve2/lxc/101/status/shutdown',
    reply: { status: 500, reason: 'CT 101 not running' },
    cls: GuestStateError,
    check: (e) => assert.equal((e as GuestStateError).state, 'stopped'),
  },
  {
    name: '500 VM already running',
    method: 'POST',
    path: '/nodes/pve1/qemu/100/status/start',
    reply: { status: 500, reason: 'VM 100 already running' },
    cls: GuestStateError,
    check: (e) => assert.equal((e as GuestStateError).state, 'running'),
  },
  {
    name: '500: the body message wins over the reason phrase',
    method: 'POST',
    path: '/nodes/pve1/qemu/100/status/suspend',
    reply: {
      status: 500,
      reason: 'VM is locked',
      body: { data: null, message: 'VM is locked (backup)\n' },
    },
    cls: ServerError,
    check: (e) => {
      assert.equal(e.pveMessage, 'VM is locked (backup)');
      assert.equal(e.message, 'POST /nodes/pve1/qemu/100/status/suspend failed: 500 VM is locked (backup)');
      assert.deepEqual(e.request, { method: 'POST', path: '/nodes/pve1/qemu/100/status/suspend' });
    },
  },
];

test('every PVE error status maps to its class, with status and message', async () => {
  let current: Case = cases[0];
  const server = await TestServer.start(() => current.reply);
  const http = new PveHttp({
    host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem, retries: 0,
  });
  try {
    for (const c of cases) {
      current = c;
      await assert.rejects(http.call(c.method, c.path), (err: unknown) => {
        assert.ok(err instanceof c.cls, `${c.name}: got ${String(err)}`);
        assert.equal(err.name, c.cls.name);
        assert.equal(err.status, c.reply.status, c.name);
        c.check(err);
        return true;
      });
    }
  } finally {
    await http.close();
    await server.close();
  }
});

test('other status codes and non-JSON answers are PveErrors that say what happened', async () => {
  const err = errorFromResponse(409, 'Conflict', undefined, { method: 'PUT', path: '/x' });
  assert.equal(err.constructor, PveError);
  assert.equal(err.message, 'PUT /x: unexpected 409 Conflict');

  const html = { contentType: 'text/html', text: '<html>hello</html>' };
  const server = await TestServer.start(() => ({ status: 200, raw: html }));
  const http = new PveHttp({ host: '127.0.0.1', port: server.port, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET, ca: server.pki.caPem });
  try {
    await assert.rejects(http.call('GET', '/version'), (e: unknown) => {
      assert.ok(e instanceof PveError);
      assert.match(e.message, /GET \/version: PVE answered 200 without a JSON body \(is https:\/\/127\.0\.0\.1:\d+ a PVE API\?\)/);
      return true;
    });
    server.setHandler(() => ({ status: 502, reason: 'Bad Gateway', raw: html }));
    await assert.rejects(http.call('POST', '/version'), (e: unknown) => e instanceof ServerError && e.pveMessage === 'Bad Gateway');
  } finally {
    await http.close();
    await server.close();
  }
});
