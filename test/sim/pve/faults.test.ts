import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, simPerTest, simSeconds, waitFor, waitTask } from './helpers.js';

const start = simPerTest();

const SHUTDOWN_101 = '/nodes/pve2/qemu/101/status/shutdown';

describe('injected faults', () => {
  it('fails only the Nth matching call, before it takes effect', async () => {
    const s = await start();
    s.inject({ kind: 'error', method: 'POST', path: '/nodes/*/qemu/*/status/shutdown', nth: 2, status: 500, message: 'got timeout' });
    assert.equal((await api(s, 'POST', '/nodes/pve2/qemu/102/status/shutdown')).status, 200);
    const second = await api(s, 'POST', SHUTDOWN_101);
    assert.equal(second.status, 500);
    assert.equal(second.reason, 'got timeout');
    assert.deepEqual(second.body, { data: null, message: 'got timeout\n' });
    assert.equal(s.state().guests.find((g) => g.vmid === 101)!.shutdownRequestedAt.length, 0, 'no effect');
    assert.equal((await api(s, 'GET', '/nodes/pve2/qemu/101/status/current')).status, 200, 'other paths are not counted');
    assert.equal((await api(s, 'POST', SHUTDOWN_101)).status, 200, 'the third call passes');
    const hit = s.audit.entries().filter((e) => e.fault);
    assert.deepEqual(
      hit.map((e) => [e.path, e.status, e.fault]),
      [[SHUTDOWN_101, 500, '1:error']],
    );
  });

  it("phase 'after': the call takes effect, only its answer is lost", async () => {
    const s = await start();
    s.inject({ kind: 'error', path: SHUTDOWN_101, status: 502, message: 'proxy timeout', phase: 'after' });
    const r = await api(s, 'POST', SHUTDOWN_101);
    assert.equal(r.status, 502);
    await waitFor(s, () => !s.cluster.guest(101).running, 60, 'the shutdown that did happen');
    assert.match(String(s.audit.entries().at(-1)!.upid), /:qmshutdown:101:/, 'the audit log knows the lost UPID');
  });

  it('resets the connection, before or after the call took effect', async () => {
    const s = await start();
    const id = s.inject({ kind: 'reset', method: 'GET', path: '/version' });
    await assert.rejects(api(s, 'GET', '/version'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    await assert.rejects(api(s, 'GET', '/version'), 'without nth: every matching call');
    s.removeFault(id);
    assert.equal((await api(s, 'GET', '/version')).status, 200);
    assert.deepEqual(s.audit.find('GET', '/version').map((e) => e.status), [0, 0, 200]);

    s.inject({ kind: 'reset', path: '/nodes/*/qemu/*/status/**', nth: 1, phase: 'after' });
    await assert.rejects(api(s, 'POST', SHUTDOWN_101));
    assert.equal(s.state().guests.find((g) => g.vmid === 101)!.shutdownRequestedAt.length, 1, 'the request went through');
  });

  it('delays answers by simulated seconds', async () => {
    const s = await start();
    s.inject({ kind: 'delay', path: '/cluster/status', seconds: 30, times: 1 });
    const t0 = s.clock.now();
    assert.equal((await api(s, 'GET', '/cluster/status')).status, 200);
    assert.ok(s.clock.now() - t0 >= 30_000, `${(s.clock.now() - t0) / 1000} s`);
    const t1 = s.clock.now();
    await api(s, 'GET', '/cluster/status');
    assert.ok(s.clock.now() - t1 < 10_000, 'times: 1');
  });

  it('takes faults from the scenario, including a node going offline at a given time', async () => {
    const s = await start((sc) => {
      sc.faults = [
        { kind: 'node-offline', node: 'pve3', at: 5 },
        { kind: 'error', method: 'GET', path: '/nodes', status: 503, message: 'busy', nth: 1 },
      ];
    });
    assert.equal((await api(s, 'GET', '/nodes')).status, 503);
    await waitFor(s, () => s.cluster.node('pve3').state === 'offline', 30, 'pve3 offline');
    const off = s.state().nodes.find((n) => n.name === 'pve3')!;
    assert.ok(Math.abs(simSeconds(s, off.offlineAt[0]) - 5) < 3, `offline at ${simSeconds(s, off.offlineAt[0])} s`);
    assert.equal(off.events.at(-1)!.via, 'fault');
    assert.equal(s.cluster.guest(106).running, false, 'power loss: guests die with the node');
  });
});

describe('audit log and state dump', () => {
  it('records every request with masked secrets, the user, the status and the UPID', async () => {
    const s = await start();
    await login(s);
    await api(s, 'POST', SHUTDOWN_101, { params: { timeout: 30 } });
    await api(s, 'GET', '/version', { auth: { token: 'ups@pve!daemon=wrong' } });
    const [loginEntry, shutdown, denied] = s.audit.entries();
    assert.deepEqual(loginEntry!.params, { username: 'root@pam', password: '***' });
    assert.equal(loginEntry!.status, 200);
    assert.deepEqual(
      [shutdown!.method, shutdown!.path, shutdown!.user, shutdown!.status, shutdown!.params],
      ['POST', SHUTDOWN_101, 'ups@pve!daemon', 200, { timeout: '30', node: 'pve2', vmid: '101' }],
    );
    assert.match(String(shutdown!.upid), /^UPID:pve2:/);
    assert.deepEqual([denied!.status, denied!.message, denied!.user], [401, 'invalid token value!', undefined]);
    assert.ok(denied!.at >= shutdown!.at);
  });

  it('dumps per-guest request and power times and per-node shutdown times', async () => {
    const s = await start();
    const r = await api(s, 'POST', SHUTDOWN_101);
    await waitTask(s, String(r.data));
    await api(s, 'POST', '/nodes/pve3/status', { params: { command: 'shutdown' } });
    await waitFor(s, () => s.cluster.node('pve3').state === 'offline', 300, 'pve3 offline');
    const state = s.state();
    const web = state.guests.find((g) => g.vmid === 101)!;
    assert.equal(web.status, 'stopped');
    assert.equal(web.shutdownRequestedAt.length, 1);
    assert.ok(web.stoppedAt[0]! - web.shutdownRequestedAt[0]! >= 5_000);
    const node = state.nodes.find((n) => n.name === 'pve3')!;
    assert.equal(node.shutdownRequestedAt.length, 1);
    assert.ok(node.offlineAt[0]! > node.shutdownRequestedAt[0]!);
    assert.equal(state.guests.find((g) => g.vmid === 106)!.stoppedAt.length, 1);
    assert.ok(state.tasks.some((t) => t.type === 'stopall' && t.node === 'pve3'));
    assert.equal(state.quorate, true);
  });
});
