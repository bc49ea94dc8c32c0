import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestStateError, NodeUnreachableError, PveError, TaskTimeoutError, TimeoutError } from '../../src/pve/errors.js';
import type { GuestRef } from '../../src/pve/types.js';
import { ManualClock, flushMicrotasks } from '../helpers/manual-clock.js';
import { captureLogger, startFake } from './helpers/setup.js';
import type { Recorded } from './helpers/server.js';

const vm100: GuestRef = { node: 'pve1', type: 'qemu', vmid: 100 };
const ct101: GuestRef = { node: 'pve2', type: 'lxc', vmid: 101 };

const calls = (reqs: Recorded[]) => reqs.map((r) => `${r.method} ${r.path}`);
const params = (r: Recorded | undefined) => r?.params;

test('version', async () => {
  const { client, close } = await startFake();
  try {
    assert.deepEqual(await client().version(), { version: '9.2.11', release: '9.2' });
  } finally {
    await close();
  }
});

test('clusterStatus merges /cluster/status, /nodes fingerprints and the Ceph monitor list', async () => {
  const { fake, server, client, close } = await startFake();
  fake.nodes[0].fingerprint = 'AB:'.repeat(31) + 'CD';
  fake.cephMons = [{ name: 'a', host: 'pve1' }, { name: 'pve3' }];
  fake.quorate = false;
  try {
    const status = await client().clusterStatus();
    assert.equal(status.name, 'lab');
    assert.equal(status.quorate, false);
    assert.deepEqual(status.nodes, [
      { node: 'pve1', online: true, local: true, ip: '10.0.0.11', sslFingerprint: 'AB:'.repeat(31) + 'CD', cephMon: true },
      { node: 'pve2', online: true, local: false, ip: '10.0.0.12', sslFingerprint: undefined, cephMon: false },
      { node: 'pve3', online: false, local: false, ip: '10.0.0.13', sslFingerprint: undefined, cephMon: true },
    ]);
    // The local node answered the monitor list.
    assert.ok(calls(server.requests).includes('GET /nodes/pve1/ceph/mon'));
  } finally {
    await close();
  }
});

test('a standalone node is its own quorum and has no cluster name', async () => {
  const { fake, client, close } = await startFake();
  fake.clusterName = undefined;
  fake.nodes = [fake.nodes[0]];
  try {
    const status = await client().clusterStatus();
    assert.equal(status.name, undefined);
    assert.equal(status.quorate, true);
    assert.deepEqual(await client().nodes(), status.nodes);
  } finally {
    await close();
  }
});

test('Ceph monitors: a node without Ceph packages passes the question on; no Ceph at all means no monitors', async () => {
  const { fake, server, client, close } = await startFake();
  fake.override('GET /nodes/{node}/ceph/mon', (req, p) =>
    p.node === 'pve1' ? { status: 500, reason: 'binary not installed: /usr/bin/ceph-mon' } : fake.builtin(req),
  );
  try {
    const nodes = await client().nodes();
    assert.deepEqual(nodes.map((n) => n.cephMon), [true, false, false]);
    assert.deepEqual(calls(server.requests).filter((c) => c.endsWith('/ceph/mon')), ['GET /nodes/pve1/ceph/mon', 'GET /nodes/pve2/ceph/mon']);

    fake.cephMons = 'not-initialized';
    fake.override('GET /nodes/{node}/ceph/mon', (req) => fake.builtin(req));
    server.requests.length = 0;
    assert.deepEqual((await client().nodes()).map((n) => n.cephMon), [false, false, false]);
    // ceph.conf lives in /etc/pve: one node saying "not initialized" speaks for all.
    assert.equal(calls(server.requests).filter((c) => c.endsWith('/ceph/mon')).length, 1);
  } finally {
    await close();
  }
});

test('Ceph monitors: other failures leave cephMon unknown and are logged, the status still returns', async () => {
  const { fake, client, close } = await startFake();
  const log = captureLogger();
  fake.override('GET /nodes/{node}/ceph/mon', () => ({ status: 403, reason: 'Permission check failed (/, Sys.Audit|Datastore.Audit)' }));
  try {
    const nodes = await client({ logger: log.logger }).nodes();
    assert.deepEqual(nodes.map((n) => n.cephMon), [undefined, undefined, undefined]);
    assert.match(log.text(), /Ceph monitor list unavailable.*permission denied/);
  } finally {
    await close();
  }
});

test('guests: /cluster/resources?type=vm with tags, templates, pool, lock and HA state', async () => {
  const { fake, server, client, close } = await startFake();
  fake.guests[0].pool = 'prod';
  fake.guests[0].lock = 'backup';
  try {
    const guests = await client().guests();
    assert.deepEqual(params(server.requests.at(-1)), { type: ['vm'] });
    assert.deepEqual(guests, [
      { node: 'pve1', type: 'qemu', vmid: 100, name: 'db', status: 'running', tags: ['prod', 'db'], pool: 'prod', template: false, lock: 'backup', hastate: undefined },
      { node: 'pve2', type: 'lxc', vmid: 101, name: 'web', status: 'running', tags: ['web', 'edge'], pool: undefined, template: false, lock: undefined, hastate: 'started' },
      { node: 'pve1', type: 'qemu', vmid: 9000, name: 'tpl', status: 'stopped', tags: [], pool: undefined, template: true, lock: undefined, hastate: undefined },
    ]);
  } finally {
    await close();
  }
});

test('guestStatus and guestConfig for a VM and an HA container', async () => {
  const { client, close } = await startFake();
  try {
    const c = client();
    assert.deepEqual(await c.guestStatus(vm100), { status: 'running', qmpstatus: 'running', lock: undefined, agent: true, ha: { managed: false, state: undefined } });
    assert.deepEqual(await c.guestStatus(ct101), { status: 'running', qmpstatus: undefined, lock: undefined, agent: false, ha: { managed: true, state: 'started' } });
    assert.deepEqual(await c.guestConfig(vm100), { startup: { order: 2, up: 30, down: 120 }, onboot: true, agent: true, name: 'db', tags: [] });
    assert.deepEqual(await c.guestConfig(ct101), { startup: { order: 3 }, onboot: false, agent: false, name: 'web', tags: ['web', 'edge'] });
    await assert.rejects(c.guestConfig({ node: 'pve1', type: 'qemu', vmid: 999 }), { name: 'NotFoundError' });
  } finally {
    await close();
  }
});

test('shutdown, stop, hibernate and start send the right parameters', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  try {
    const c = client();
    const last = () => server.requests.filter((r) => r.method === 'POST').at(-1)!;
    const u1 = await c.shutdownGuest(vm100, { timeoutS: 120, forceStop: false });
    assert.match(u1, /^UPID:pve1:.*:qmshutdown:100:/);
    assert.equal(last().path, '/nodes/pve1/qemu/100/status/shutdown');
    assert.deepEqual(last().params, { timeout: ['120'], forceStop: ['0'] });

    await c.startGuest(vm100);
    assert.deepEqual(last().params, {});
    await c.stopGuest(vm100, { timeoutS: 30 });
    assert.deepEqual(last().params, { timeout: ['30'] });
    await c.startGuest(vm100);
    await c.stopGuest(vm100, { overruleShutdown: true });
    assert.deepEqual(last().params, { 'overrule-shutdown': ['1'] });

    // LXC stop has no timeout parameter.
    await c.stopGuest(ct101, { timeoutS: 30, overruleShutdown: true });
    assert.equal(last().path, '/nodes/pve2/lxc/101/status/stop');
    assert.deepEqual(last().params, { 'overrule-shutdown': ['1'] });

    await c.startGuest(vm100);
    const h = await c.hibernateGuest(vm100);
    assert.match(h, /:qmsuspend:100:/);
    assert.deepEqual(last().params, { todisk: ['1'] });
    const posts = server.requests.filter((r) => r.method === 'POST').length;
    await assert.rejects(c.hibernateGuest(ct101), (e: unknown) => e instanceof PveError && /only VMs can hibernate/.test(e.message));
    assert.equal(server.requests.filter((r) => r.method === 'POST').length, posts, 'nothing sent for a container');
  } finally {
    await close();
  }
});

test('stop with overrule-shutdown: dropped for HA guests, which PVE refuses it for', async () => {
  const { server, client, close } = await startFake();
  const log = captureLogger();
  try {
    const upid = await client({ logger: log.logger }).stopGuest(ct101, { overruleShutdown: true });
    assert.match(upid, /:hastop:101:/);
    assert.deepEqual(calls(server.requests), ['GET /nodes/pve2/lxc/101/status/current', 'POST /nodes/pve2/lxc/101/status/stop']);
    assert.deepEqual(server.requests[1].params, {});
    assert.match(log.text(), /HA-managed: stopping without overrule-shutdown/);
  } finally {
    await close();
  }
});

test('PVE refusing a stopped container is a GuestStateError', async () => {
  const { fake, client, close } = await startFake();
  fake.guest(101).status = 'stopped';
  fake.haResources = [];
  try {
    await assert.rejects(client().shutdownGuest(ct101, { timeoutS: 60, forceStop: true }), (e: unknown) => e instanceof GuestStateError && e.state === 'stopped');
  } finally {
    await close();
  }
});

test('taskStatus asks the node named in the UPID; OK and WARNINGS succeed', async () => {
  const { fake, server, client, close } = await startFake();
  try {
    const c = client();
    const upid = fake.startTask('pve2', 'vzshutdown', '101');
    assert.deepEqual(await c.taskStatus(upid), { upid, node: 'pve2', running: false, exitstatus: 'OK', ok: true });
    assert.equal(server.requests.at(-1)!.path, `/nodes/pve2/tasks/${upid}/status`);

    fake.nextTask = { runningPolls: 1, exitstatus: 'WARNINGS: 2' };
    const warn = fake.startTask('pve1', 'qmshutdown', '100');
    assert.deepEqual(await c.taskStatus(warn), { upid: warn, node: 'pve1', running: true, exitstatus: undefined, ok: false });
    assert.equal((await c.taskStatus(warn)).ok, true);

    fake.nextTask = { runningPolls: 0, exitstatus: 'VM quit/powerdown failed - got timeout' };
    const failed = fake.startTask('pve1', 'qmshutdown', '100');
    assert.deepEqual(await c.taskStatus(failed), { upid: failed, node: 'pve1', running: false, exitstatus: 'VM quit/powerdown failed - got timeout', ok: false });
    await assert.rejects(c.taskStatus('not-a-upid'), /not a PVE task id/);
  } finally {
    await close();
  }
});

test('waitTask polls on the clock until the task stops, or gives up at the timeout', async () => {
  const clock = new ManualClock();
  const { fake, server, client, close } = await startFake();
  try {
    const c = client({ clock });
    fake.nextTask = { runningPolls: 2, exitstatus: 'OK' };
    const upid = fake.startTask('pve1', 'qmshutdown', '100');
    const done = c.waitTask(upid, { pollMs: 2000 });
    const polls = () => server.requests.filter((r) => r.path.endsWith('/status') && r.path.includes('/tasks/')).length;
    await waitFor(() => polls() === 1);
    await clock.advance(2000);
    await waitFor(() => polls() === 2);
    await clock.advance(2000);
    assert.equal((await done).ok, true);
    assert.equal(polls(), 3);

    fake.nextTask = { runningPolls: 100, exitstatus: 'OK' };
    const slow = fake.startTask('pve1', 'qmshutdown', '100');
    const timedOut = c.waitTask(slow, { pollMs: 1000, timeoutMs: 2500 });
    const outcome = timedOut.then(() => 'resolved', (e: unknown) => e);
    for (let i = 0; i < 3; i++) {
      await waitFor(() => clock.pendingTimers() > 0);
      await clock.advance(1000);
    }
    const err = await outcome;
    assert.ok(err instanceof TaskTimeoutError && err.upid === slow, String(err));

    const ac = new AbortController();
    const aborted = c.waitTask(slow, { signal: ac.signal }).then(() => 'resolved', (e: unknown) => e);
    await waitFor(() => clock.pendingTimers() > 0);
    ac.abort(new Error('stage cancelled'));
    assert.equal(((await aborted) as Error).message, 'stage cancelled');
  } finally {
    await close();
  }
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) {
    await flushMicrotasks();
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(cond(), 'condition not reached');
}

test('node power: shutdown command and wake-on-LAN', async () => {
  const { fake, server, client, close } = await startFake();
  try {
    const c = client();
    await c.shutdownNode('pve2');
    assert.deepEqual([server.requests.at(-1)!.path, params(server.requests.at(-1))], ['/nodes/pve2/status', { command: ['shutdown'] }]);
    assert.equal(fake.nodes[1].online, false);
    await c.wakeNode('pve2');
    assert.equal(server.requests.at(-1)!.path, '/nodes/pve2/wakeonlan');
    await assert.rejects(c.shutdownNode('pve3'), (e: unknown) => e instanceof NodeUnreachableError && e.node === 'pve3');
  } finally {
    await close();
  }
});

test('HA: resources with the default state, state changes, disarm and arm', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [{ sid: 'vm:100', state: 'stopped', group: 'g1' }, { sid: 'ct:101' }];
  try {
    const c = client();
    assert.deepEqual(await c.haResources(), [
      { sid: 'vm:100', state: 'stopped', group: 'g1' },
      { sid: 'ct:101', state: 'started', group: undefined },
    ]);
    await c.setHaState('vm:100', 'started');
    assert.deepEqual([server.requests.at(-1)!.method, server.requests.at(-1)!.path, params(server.requests.at(-1))], ['PUT', '/cluster/ha/resources/vm:100', { state: ['started'] }]);
    assert.equal(fake.haResources[0].state, 'started');

    await c.disarmHa('ignore');
    assert.deepEqual(params(server.requests.at(-1)), { 'resource-mode': ['ignore'] });
    assert.equal(fake.haArmed, false);
    await c.armHa();
    assert.equal(server.requests.at(-1)!.path, '/cluster/ha/status/arm-ha');
    assert.equal(fake.haArmed, true);
  } finally {
    await close();
  }
});

test('Ceph flags: read the six pvepower uses, set only those given', async () => {
  const { fake, server, client, close } = await startFake();
  fake.cephFlags.noout = true;
  fake.cephFlags.noscrub = true;
  try {
    const c = client();
    assert.deepEqual(await c.cephFlags(), { noout: true, norecover: false, norebalance: false, nobackfill: false, nodown: false, pause: false });
    server.requests.length = 0;
    await c.setCephFlags({ noout: false, norecover: true, pause: undefined });
    assert.deepEqual(server.requests.map((r) => [r.method, r.path, r.params]), [
      ['PUT', '/cluster/ceph/flags/noout', { value: ['0'] }],
      ['PUT', '/cluster/ceph/flags/norecover', { value: ['1'] }],
    ]);
    fake.cephMons = 'not-installed';
    fake.override('GET /cluster/ceph/flags', () => ({ status: 500, reason: 'binary not installed: /usr/bin/ceph-mon' }));
    server.requests.length = 0;
    await assert.rejects(c.cephFlags(), { name: 'CephNotInstalledError' });
    assert.equal(server.requests.length, 1, 'not retried: Ceph will not appear');
  } finally {
    await close();
  }
});

test('HA shutdown policy from /cluster/options, conditional when unset', async () => {
  const { fake, client, close } = await startFake();
  try {
    const c = client();
    assert.equal(await c.haShutdownPolicy(), 'freeze');
    fake.clusterOptions = { ha: 'shutdown_policy=migrate' };
    assert.equal(await c.haShutdownPolicy(), 'migrate');
    fake.clusterOptions = { keyboard: 'de' };
    assert.equal(await c.haShutdownPolicy(), 'conditional');
  } finally {
    await close();
  }
});

// ---- A POST that may have reached PVE is checked, never repeated blindly ----

test('shutdown answered too late: PVE got it, the task is found and followed, nothing is re-sent', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  fake.override('POST /nodes/{node}/{type}/{vmid}/status/shutdown', (req) => ({ ...fake.builtin(req), delayMs: 1500 }));
  const log = captureLogger();
  try {
    const upid = await client({ timeoutMs: 300, logger: log.logger }).shutdownGuest(vm100, { timeoutS: 180, forceStop: true });
    assert.deepEqual([...fake.tasks.keys()], [upid]);
    const seen = calls(server.requests);
    assert.equal(seen.filter((c) => c.startsWith('POST')).length, 1, 'POSTed once');
    assert.equal(seen[0], 'POST /nodes/pve1/qemu/100/status/shutdown');
    assert.deepEqual(seen.slice(1).sort(), ['GET /nodes/pve1/qemu/100/status/current', 'GET /nodes/pve1/tasks']);
    assert.deepEqual(server.requests.find((r) => r.path === '/nodes/pve1/tasks')!.params.vmid, ['100']);
    assert.match(log.text(), /no answer, checking what PVE did/);
    assert.match(log.text(), /PVE has the task, following it/);
  } finally {
    await close();
  }
});

test('HA guest: a lost answer finds the hastop task', async () => {
  const { fake, server, client, close } = await startFake();
  fake.override('POST /nodes/{node}/{type}/{vmid}/status/shutdown', (req) => ({ ...fake.builtin(req), delayMs: 1500 }));
  try {
    const upid = await client({ timeoutMs: 300 }).shutdownGuest(ct101, { timeoutS: 60, forceStop: false });
    assert.match(upid, /:hastop:101:/);
    assert.equal(server.requests.filter((r) => r.method === 'POST').length, 1);
  } finally {
    await close();
  }
});

test('connection lost before PVE acted: no task, guest still running, so the POST is sent once more', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  let first = true;
  fake.override('POST /nodes/{node}/{type}/{vmid}/status/shutdown', (req) => {
    if (!first) return fake.builtin(req);
    first = false;
    return { destroy: true };
  });
  try {
    const upid = await client().shutdownGuest(vm100, { timeoutS: 60, forceStop: true });
    assert.match(upid, /:qmshutdown:100:/);
    const seen = calls(server.requests);
    assert.equal(seen[0], 'POST /nodes/pve1/qemu/100/status/shutdown');
    assert.deepEqual(seen.slice(1, 3).sort(), ['GET /nodes/pve1/qemu/100/status/current', 'GET /nodes/pve1/tasks']);
    assert.equal(seen[3], 'POST /nodes/pve1/qemu/100/status/shutdown');
    assert.equal(seen.length, 4);
    assert.equal(fake.guest(100).status, 'stopped');
  } finally {
    await close();
  }
});

test('connection lost and the guest already stopped without a task: GuestStateError, no second POST', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  fake.override('POST /nodes/{node}/{type}/{vmid}/status/stop', () => {
    fake.guest(100).status = 'stopped';
    return { destroy: true };
  });
  try {
    await assert.rejects(client().stopGuest(vm100), (e: unknown) => e instanceof GuestStateError && e.state === 'stopped' && /already stopped/.test(e.message));
    assert.equal(server.requests.filter((r) => r.method === 'POST').length, 1);
  } finally {
    await close();
  }
});

test('when the outcome cannot be checked, the original error is thrown and nothing is re-sent', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  fake.override('POST /nodes/{node}/{type}/{vmid}/status/start', () => ({ delayMs: 1500, data: null }));
  fake.override('GET /nodes/{node}/{type}/{vmid}/status/current', () => ({ status: 595, reason: 'Connection timed out' }));
  fake.guest(100).status = 'stopped';
  const log = captureLogger();
  try {
    await assert.rejects(client({ timeoutMs: 300, logger: log.logger }).startGuest(vm100), (e: unknown) => e instanceof TimeoutError && e.requestSent);
    assert.equal(server.requests.filter((r) => r.method === 'POST').length, 1);
    assert.match(log.text(), /cannot verify the outcome, not repeating it/);
  } finally {
    await close();
  }
});

test('a definite PVE answer is never second-guessed: a 500 on start is thrown as is', async () => {
  const { fake, server, client, close } = await startFake();
  fake.haResources = [];
  try {
    await assert.rejects(client().startGuest(vm100), (e: unknown) => e instanceof GuestStateError && e.state === 'running');
    assert.deepEqual(calls(server.requests), ['POST /nodes/pve1/qemu/100/status/start']);
  } finally {
    await close();
  }
});
