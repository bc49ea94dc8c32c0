import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PveClient } from '../../src/pve/client.js';
import type { PveApi } from '../../src/pve/types.js';
import { FakePve } from './helpers/fake-pve.js';
import { lookup, validate } from './helpers/schema.js';
import { TestServer, type Recorded } from './helpers/server.js';
import { startFake } from './helpers/setup.js';

const vm = { node: 'pve1', type: 'qemu', vmid: 100 } as const;
const ct = { node: 'pve2', type: 'lxc', vmid: 101 } as const;

/**
 * Every PveApi method with the arguments that make it send every parameter it can. Typed as a
 * Record over the interface's keys, so a method added to PveApi fails to compile here until it
 * is driven too.
 */
function drivers(fake: FakePve): Record<keyof PveApi, (c: PveClient) => Promise<unknown>> {
  return {
    version: (c) => c.version(),
    clusterStatus: (c) => c.clusterStatus(),
    guests: (c) => c.guests(),
    nodes: (c) => c.nodes(),
    guestStatus: async (c) => [await c.guestStatus(vm), await c.guestStatus(ct)],
    guestConfig: async (c) => [await c.guestConfig(vm), await c.guestConfig(ct)],
    shutdownGuest: async (c) => {
      fake.haResources = [];
      await c.shutdownGuest(vm, { timeoutS: 180, forceStop: true });
      await c.shutdownGuest(ct, { timeoutS: 0, forceStop: false });
    },
    startGuest: async (c) => [await c.startGuest(vm), await c.startGuest(ct)],
    stopGuest: async (c) => {
      await c.stopGuest(vm, { overruleShutdown: true, timeoutS: 30 });
      await c.stopGuest(ct, { overruleShutdown: true, timeoutS: 30 });
      await c.startGuest(vm);
    },
    hibernateGuest: (c) => c.hibernateGuest(vm),
    taskStatus: (c) => c.taskStatus(fake.startTask('pve2', 'vzstop', '101')),
    waitTask: (c) => c.waitTask(fake.startTask('pve1', 'qmstart', '100')),
    shutdownNode: (c) => c.shutdownNode('pve2'),
    wakeNode: (c) => c.wakeNode('pve2'),
    haResources: (c) => c.haResources(),
    setHaState: async (c) => {
      fake.haResources = [{ sid: 'vm:100' }, { sid: 'ct:101' }];
      for (const state of ['started', 'stopped', 'disabled', 'ignored'] as const) await c.setHaState('ct:101', state);
    },
    disarmHa: async (c) => [await c.disarmHa('freeze'), await c.disarmHa('ignore')],
    armHa: (c) => c.armHa(),
    cephFlags: (c) => c.cephFlags(),
    setCephFlags: (c) =>
      c.setCephFlags({ noout: true, norecover: true, norebalance: true, nobackfill: true, nodown: false, pause: false }),
    haShutdownPolicy: (c) => c.haShutdownPolicy(),
  };
}

function assertValid(requests: Recorded[]): void {
  const problems = requests.flatMap(validate);
  assert.deepEqual(problems, [], problems.join('\n'));
}

test('every request PveClient builds is valid per the official PVE API schema', async () => {
  const { fake, server, client, close } = await startFake();
  try {
    const c = client();
    for (const [name, drive] of Object.entries(drivers(fake))) {
      const before = server.requests.length;
      await drive(c);
      assert.ok(server.requests.length > before, `${name} sent nothing`);
    }
    // The verification path after a lost answer reads the node's task log.
    fake.guest(100).status = 'running';
    fake.override('POST /nodes/{node}/{type}/{vmid}/status/shutdown', (req) => ({ ...fake.builtin(req), delayMs: 1000 }));
    await client({ timeoutMs: 200 }).shutdownGuest(vm, { timeoutS: 60, forceStop: true });

    assertValid(server.requests);
    const endpoints = new Set(server.requests.map((r) => `${r.method} ${lookup(r.method, r.path)!.schemaPath}`));
    assert.deepEqual([...endpoints].sort(), [
      'GET /cluster/ceph/flags',
      'GET /cluster/ha/resources',
      'GET /cluster/options',
      'GET /cluster/resources',
      'GET /cluster/status',
      'GET /nodes',
      'GET /nodes/{node}/ceph/mon',
      'GET /nodes/{node}/lxc/{vmid}/config',
      'GET /nodes/{node}/lxc/{vmid}/status/current',
      'GET /nodes/{node}/qemu/{vmid}/config',
      'GET /nodes/{node}/qemu/{vmid}/status/current',
      'GET /nodes/{node}/tasks',
      'GET /nodes/{node}/tasks/{upid}/status',
      'GET /version',
      'POST /cluster/ha/status/arm-ha',
      'POST /cluster/ha/status/disarm-ha',
      'POST /nodes/{node}/lxc/{vmid}/status/shutdown',
      'POST /nodes/{node}/lxc/{vmid}/status/start',
      'POST /nodes/{node}/lxc/{vmid}/status/stop',
      'POST /nodes/{node}/qemu/{vmid}/status/shutdown',
      'POST /nodes/{node}/qemu/{vmid}/status/start',
      'POST /nodes/{node}/qemu/{vmid}/status/stop',
      'POST /nodes/{node}/qemu/{vmid}/status/suspend',
      'POST /nodes/{node}/status',
      'POST /nodes/{node}/wakeonlan',
      'PUT /cluster/ceph/flags/{flag}',
      'PUT /cluster/ha/resources/{sid}',
    ]);
  } finally {
    await close();
  }
});

test('the ticket login request is valid per the schema too', async () => {
  const fake = new FakePve();
  fake.login = { username: 'root@pam', password: 'long-enough-password' };
  const server = await TestServer.start(fake.handle);
  const c = new PveClient({ host: '127.0.0.1', port: server.port, username: 'root@pam', password: 'long-enough-password', ca: server.pki.caPem });
  try {
    await c.version();
    assert.equal(server.requests[0].path, '/access/ticket');
    assertValid(server.requests);
  } finally {
    await c.close();
    await server.close();
  }
});

test('the schema check itself rejects what pveproxy rejects', () => {
  const req = (method: string, path: string, params: Record<string, string[]> = {}): Recorded => ({ method, path, params, rawUrl: path, headers: {} });
  assert.deepEqual(validate(req('POST', '/nodes/pve1/qemu/100/status/shutdown', { forceStop: ['1'], timeout: ['60'] })), []);
  assert.match(validate(req('POST', '/nodes/pve1/lxc/101/status/stop', { timeout: ['30'] }))[0], /'timeout' is not in the schema/);
  assert.match(validate(req('POST', '/nodes/pve1/qemu/100/status/shutdown', { forceStop: ['true'] }))[0], /boolean must be sent as 0 or 1/);
  assert.match(validate(req('POST', '/nodes/pve1/qemu/100/status/shutdown', { timeout: ['-1'] }))[0], /below the minimum 0/);
  assert.match(validate(req('POST', '/nodes/pve1/status', { command: ['halt'] }))[0], /'halt' is not one of/);
  assert.match(validate(req('POST', '/nodes/pve1/status'))[0], /required parameter 'command' missing/);
  assert.match(validate(req('GET', '/nodes/pve1/qemu/abc/status/current'))[0], /vmid: not an integer/);
  assert.match(validate(req('POST', '/cluster/nothing'))[0], /no such method/);
  assert.match(validate(req('PUT', '/cluster/ceph/flags/noout', { value: ['1'], flag: ['noout'] }))[0], /given in the path and as a parameter/);
});
