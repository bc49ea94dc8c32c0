import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PveSimulator } from '../../../src/sim/pve/server.js';
import { api, guestEvents, simPerTest, waitFor, waitTask } from './helpers.js';

type Guests = Array<Record<string, unknown>>;

const start = simPerTest();

/** Simulated seconds between a guest's first event of each kind. */
function gap(s: PveSimulator, vmid: number, from: string, to: string): number {
  const ev = guestEvents(s, vmid);
  const a = ev.find((e) => e.event === from);
  const b = ev.find((e) => e.event === to);
  assert.ok(a && b, `${vmid}: ${from} and ${to} happened (${ev.map((e) => e.event).join(', ')})`);
  return (b.at - a.at) / 1000;
}

/** Timing over HTTPS is loose (a busy test machine delays timers); cluster.test.ts checks exact times. */
function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 5, `${what}: ${actual.toFixed(1)} s, expected about ${expected} s`);
}

function post(s: PveSimulator, path: string, params: Record<string, string | number> = {}) {
  return api(s, 'POST', path, { params });
}

describe('guest shutdown', () => {
  it('stops a guest gracefully after its shutdownSeconds; the task ends OK', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/101/status/shutdown', { timeout: 60 });
    assert.equal(r.status, 200);
    const upid = String(r.data);
    assert.match(upid, /^UPID:pve2:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmshutdown:101:ups@pve!daemon:$/);
    const running = await api(s, 'GET', `/nodes/pve2/tasks/${encodeURIComponent(upid)}/status`);
    assert.equal((running.data as { status: string }).status, 'running');
    assert.equal((await waitTask(s, upid)).exitstatus, 'OK');
    near(gap(s, 101, 'shutdown-requested', 'stopped'), 10, 'graceful shutdown');
    const cur = await api(s, 'GET', '/nodes/pve2/qemu/101/status/current');
    assert.equal((cur.data as { status: string }).status, 'stopped');
  });

  it('kills a guest that ignores ACPI 10 s after the timeout with forceStop (WARNINGS: 1)', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/102/status/shutdown', { timeout: 30, forceStop: 1 });
    const t = await waitTask(s, String(r.data));
    assert.equal(t.exitstatus, 'WARNINGS: 1');
    near(gap(s, 102, 'shutdown-requested', 'stopped'), 40, 'timeout + SIGTERM wait');
    assert.equal(guestEvents(s, 102).find((e) => e.event === 'stopped')!.detail, 'killed');
  });

  it('fails the task without forceStop and leaves the guest running', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/102/status/shutdown', { timeout: 20 });
    const t = await waitTask(s, String(r.data));
    assert.equal(t.exitstatus, 'VM quit/powerdown failed - got timeout');
    assert.equal(s.cluster.guest(102).running, true);
  });

  it('lets a slow guest finish powering off after its task timed out', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve1/qemu/100/status/shutdown', { timeout: 5 });
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'VM quit/powerdown failed - got timeout');
    await waitFor(s, () => !s.cluster.guest(100).running, 60, 'the guest OS to finish');
    near(gap(s, 100, 'shutdown-requested', 'stopped'), 20, 'the guest kept shutting down');
  });

  it('uses startup down as the default timeout for qemu', async () => {
    const s = await start((sc) => ((sc.guests as Guests)[2]!.startup = 'down=15'));
    const r = await post(s, '/nodes/pve2/qemu/102/status/shutdown');
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'VM quit/powerdown failed - got timeout');
    const ev = guestEvents(s, 102)[0]!;
    const task = s.cluster.tasks.get(String(r.data))!;
    near(task.endtime! - Math.floor(ev.at / 1000), 15, 'the down timeout');
  });

  it('refuses a paused VM synchronously, stops it with forceStop', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/104/status/shutdown');
    assert.equal(r.status, 500);
    assert.equal(r.reason, 'VM is paused - cannot shutdown');
    const forced = await post(s, '/nodes/pve2/qemu/104/status/shutdown', { forceStop: 1 });
    assert.equal((await waitTask(s, String(forced.data))).exitstatus, 'OK');
    assert.equal(s.cluster.guest(104).running, false);
  });

  it('fails the task for a locked VM', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/105/status/shutdown', { forceStop: 1 });
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'VM is locked (backup)');
    assert.equal(s.cluster.guest(105).running, true);
    const st = await post(s, '/nodes/pve2/qemu/105/status/stop');
    assert.equal((await waitTask(s, String(st.data))).exitstatus, 'VM is locked (backup)');
  });

  it('ends OK at once for a VM that is not running', async () => {
    const s = await start();
    const before = s.clock.now();
    const r = await post(s, '/nodes/pve3/qemu/108/status/shutdown');
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'OK');
    assert.ok(s.clock.now() - before < 2000);
  });

  it('answers 500 "CT X not running" for a stopped container; shuts a running one down', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve3/lxc/107/status/shutdown');
    assert.equal(r.status, 500);
    assert.equal(r.reason, 'CT 107 not running');
    const stop = await post(s, '/nodes/pve3/lxc/107/status/stop');
    assert.equal(stop.reason, 'CT 107 not running');
    const ok = await post(s, '/nodes/pve3/lxc/106/status/shutdown');
    assert.match(String(ok.data), /:vzshutdown:106:/);
    assert.equal((await waitTask(s, String(ok.data))).exitstatus, 'OK');
    near(gap(s, 106, 'shutdown-requested', 'stopped'), 5, 'container shutdown');
  });

  it('reports "container did not stop" without forceStop; lxc-stop kills at the timeout with it', async () => {
    const s = await start((sc) => ((sc.guests as Guests)[6]!.ignoresAcpi = true));
    const r = await post(s, '/nodes/pve3/lxc/106/status/shutdown', { timeout: 10 });
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'container did not stop');
    const forced = await post(s, '/nodes/pve3/lxc/106/status/shutdown', { timeout: 10, forceStop: 1 });
    assert.equal((await waitTask(s, String(forced.data))).exitstatus, 'OK');
    const ev = guestEvents(s, 106);
    near((ev.find((e) => e.event === 'stopped')!.at - ev.filter((e) => e.event === 'shutdown-requested')[1]!.at) / 1000, 10, 'kill at timeout');
  });

  it('agentDead: PVE < 8.3 waits out the timeout, PVE >= 8.3 falls back to ACPI', async () => {
    const dead = { vmid: 120, node: 'pve1', status: 'running', agent: true, agentDead: true, shutdownSeconds: 5 };
    const old = await start((sc) => {
      (sc.cluster as Record<string, unknown>).version = '8.2.7';
      (sc.guests as Guests).push(dead);
    });
    const r = await post(old, '/nodes/pve1/qemu/120/status/shutdown', { timeout: 20 });
    assert.equal((await waitTask(old, String(r.data))).exitstatus, 'VM quit/powerdown failed - got timeout');
    await old.close();
    const now = await start((sc) => (sc.guests as Guests).push(dead));
    const r2 = await post(now, '/nodes/pve1/qemu/120/status/shutdown', { timeout: 20 });
    assert.equal((await waitTask(now, String(r2.data))).exitstatus, 'OK');
    near(gap(now, 120, 'shutdown-requested', 'stopped'), 5, 'ACPI fallback');
  });
});

describe('stop, start, hibernate', () => {
  it('overrule-shutdown aborts the running shutdown task', async () => {
    const s = await start();
    const sd = await post(s, '/nodes/pve2/qemu/102/status/shutdown', { timeout: 300 });
    await waitFor(s, () => s.cluster.tasks.get(String(sd.data))!.status === 'running', 5);
    const stop = await post(s, '/nodes/pve2/qemu/102/status/stop', { 'overrule-shutdown': 1 });
    assert.match(String(stop.data), /:qmstop:102:/);
    assert.equal((await waitTask(s, String(stop.data))).exitstatus, 'OK');
    assert.equal((await waitTask(s, String(sd.data))).exitstatus, 'interrupted by signal');
    assert.equal(s.cluster.guest(102).running, false);
  });

  it('a plain stop waits for the shutdown task holding the config lock, then gives up after 10 s', async () => {
    const s = await start();
    await post(s, '/nodes/pve2/qemu/102/status/shutdown', { timeout: 300 });
    const stop = await post(s, '/nodes/pve2/qemu/102/status/stop');
    assert.equal((await waitTask(s, String(stop.data))).exitstatus, "can't lock file '/var/lock/qemu-server/lock-102.conf' - got timeout");
    assert.equal(s.cluster.guest(102).running, true);
  });

  it('rejects overrule-shutdown as unknown on PVE before 8.1', async () => {
    const s = await start((sc) => ((sc.cluster as Record<string, unknown>).version = '8.0.4'));
    const r = await post(s, '/nodes/pve2/qemu/102/status/stop', { 'overrule-shutdown': 1 });
    assert.deepEqual(r.body?.errors, {
      'overrule-shutdown': 'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('starts a stopped VM, fails for a running one and for a template', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve3/qemu/108/status/start');
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'OK');
    assert.equal(s.cluster.guest(108).running, true);
    const again = await post(s, '/nodes/pve3/qemu/108/status/start');
    assert.equal((await waitTask(s, String(again.data))).exitstatus, 'VM 108 already running');
    const tpl = await post(s, '/nodes/pve2/qemu/9000/status/start');
    assert.equal((await waitTask(s, String(tpl.data))).exitstatus, "you can't start a vm if it's a template");
    const ct = await post(s, '/nodes/pve3/lxc/106/status/start');
    assert.equal(ct.reason, 'CT 106 already running');
  });

  it('refuses a guest whose config is on another node', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve1/qemu/101/status/shutdown');
    assert.equal(r.status, 500);
    assert.equal(r.reason, "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist");
  });

  it('hibernates with todisk (lock suspended) and resumes on start', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/101/status/suspend', { todisk: 1 });
    assert.match(String(r.data), /:qmsuspend:101:/);
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'OK');
    const cur = (await api(s, 'GET', '/nodes/pve2/qemu/101/status/current')).data as { status: string; lock?: string };
    assert.deepEqual([cur.status, cur.lock], ['stopped', 'suspended']);
    const st = await post(s, '/nodes/pve2/qemu/101/status/start');
    assert.equal((await waitTask(s, String(st.data))).exitstatus, 'OK');
    const after = (await api(s, 'GET', '/nodes/pve2/qemu/101/status/current')).data as { status: string; lock?: string };
    assert.deepEqual([after.status, after.lock], ['running', undefined]);
    assert.equal(guestEvents(s, 101).find((e) => e.event === 'started')!.detail, 'resume');
  });

  it('pauses without todisk (qmpstatus paused)', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/101/status/suspend');
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'OK');
    const cur = (await api(s, 'GET', '/nodes/pve2/qemu/101/status/current')).data as { status: string; qmpstatus: string };
    assert.deepEqual([cur.status, cur.qmpstatus], ['running', 'paused']);
  });
});

describe('HA-managed guests', () => {
  it('shutdown is a hastop task that ends at once; the LRM stops the guest later; the state becomes stopped', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve3/qemu/103/status/shutdown', { timeout: 120 });
    const upid = String(r.data);
    assert.match(upid, /:hastop:103:ups@pve!daemon:$/);
    assert.equal((await waitTask(s, upid, 1)).exitstatus, 'OK');
    assert.equal(s.cluster.guest(103).running, true, 'still running when the task is done');
    await waitFor(s, () => !s.cluster.guest(103).running, 60, 'the LRM to stop it');
    near(gap(s, 103, 'shutdown-requested', 'stopped'), 2 + 15, 'HA latency + guest shutdown');
    const ha = (await api(s, 'GET', '/cluster/ha/resources')).data as Array<{ sid: string; state: string }>;
    assert.equal(ha.find((x) => x.sid === 'vm:103')!.state, 'stopped');
    const cur = (await api(s, 'GET', '/nodes/pve3/qemu/103/status/current')).data as { ha: { managed: number; state: string } };
    assert.deepEqual(cur.ha, { managed: 1, state: 'stopped' });
    const lrm = s.state().tasks.find((t) => t.type === 'qmshutdown' && t.id === '103')!;
    assert.equal(lrm.user, 'root@pam', 'the LRM works as root');

    const st = await post(s, '/nodes/pve3/qemu/103/status/start');
    assert.match(String(st.data), /:hastart:103:/);
    await waitFor(s, () => s.cluster.guest(103).running, 30, 'the HA start');
    assert.equal(s.cluster.haResources.get('vm:103')!.state, 'started');
  });

  it('stop is a hard hastop; overrule-shutdown is not for HA resources', async () => {
    const s = await start();
    const bad = await post(s, '/nodes/pve3/qemu/103/status/stop', { 'overrule-shutdown': 1 });
    assert.deepEqual(bad.body?.errors, { 'overrule-shutdown': 'Not applicable for HA resources.' });
    const r = await post(s, '/nodes/pve3/qemu/103/status/stop');
    assert.match(String(r.data), /:hastop:103:/);
    await waitFor(s, () => !s.cluster.guest(103).running, 10, 'the hard stop');
    assert.ok(gap(s, 103, 'stop-requested', 'stopped') < 10, 'no graceful shutdown (it would take 15 s)');
  });

  it('state changes through PUT /cluster/ha/resources/{sid}; ignored releases the guest from HA', async () => {
    const s = await start();
    const r = await api(s, 'PUT', '/cluster/ha/resources/103', { params: { state: 'stopped' } });
    assert.equal(r.status, 200);
    assert.equal(r.data, null);
    await waitFor(s, () => !s.cluster.guest(103).running, 60, 'HA stop');
    await api(s, 'PUT', '/cluster/ha/resources/vm:103', { params: { state: 'ignored' } });
    const st = await post(s, '/nodes/pve3/qemu/103/status/start');
    assert.match(String(st.data), /:qmstart:103:/, 'an ignored resource is started directly');
    const missing = await api(s, 'PUT', '/cluster/ha/resources/vm:999', { params: { state: 'stopped' } });
    assert.equal(missing.reason, "no such resource 'vm:999'");
  });

  it('refuses to hibernate an HA-managed VM', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve3/qemu/103/status/suspend', { todisk: 1 });
    assert.equal(r.reason, 'Cannot suspend HA managed VM to disk');
  });
});

describe('tasks', () => {
  it('answers task status only on the UPID node, and parses UPIDs like PVE', async () => {
    const s = await start();
    const r = await post(s, '/nodes/pve2/qemu/101/status/shutdown');
    const upid = String(r.data);
    const [, node, pid, pstart, starttime] = upid.split(':');
    const st = (await api(s, 'GET', `/nodes/pve2/tasks/${encodeURIComponent(upid)}/status`)).data as Record<string, unknown>;
    assert.deepEqual(
      { ...st, status: undefined },
      {
        upid,
        node,
        pid: parseInt(pid!, 16),
        pstart: parseInt(pstart!, 16),
        starttime: parseInt(starttime!, 16),
        type: 'qmshutdown',
        id: '101',
        user: 'ups@pve',
        tokenid: 'daemon',
        status: undefined,
      },
    );
    assert.ok(Math.abs(parseInt(starttime!, 16) - s.clock.now() / 1000) < 5);
    const wrong = await api(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body?.errors, { upid: 'no such task' });
    const junk = await api(s, 'GET', '/nodes/pve1/tasks/UPID:nonsense/status');
    assert.deepEqual(junk.body?.errors, { upid: 'unable to parse worker upid' });
  });

  it('lists a node\'s tasks newest first, filtered by vmid, source and status', async () => {
    const s = await start();
    const stop = await post(s, '/nodes/pve2/qemu/101/status/stop');
    await waitTask(s, String(stop.data));
    const sd = await post(s, '/nodes/pve2/qemu/102/status/shutdown', { timeout: 300 });
    const locked = await post(s, '/nodes/pve2/qemu/105/status/stop');
    await waitTask(s, String(locked.data));
    type T = { upid: string; type: string; status?: string; endtime?: number };
    const list = async (params: Record<string, string | number>) => (await api(s, 'GET', '/nodes/pve2/tasks', { params })).data as T[];
    assert.deepEqual(
      (await list({})).map((t) => [t.upid, t.status]),
      [
        [String(locked.data), 'VM is locked (backup)'],
        [String(stop.data), 'OK'],
      ],
      'archive: finished tasks only',
    );
    assert.deepEqual(
      (await list({ source: 'active' })).map((t) => [t.upid, t.status, t.endtime]),
      [[String(sd.data), 'RUNNING', undefined]],
    );
    assert.deepEqual(
      (await list({ source: 'all', vmid: 101 })).map((t) => t.type),
      ['qmstop'],
    );
    assert.deepEqual(
      (await list({ statusfilter: 'error' })).map((t) => t.upid),
      [String(locked.data)],
    );
    assert.deepEqual(await list({ vmid: 101, since: Math.floor(s.clock.now() / 1000) + 60 }), []);
    const bad = await api(s, 'GET', '/nodes/pve2/tasks', { params: { statusfilter: 'broken' } });
    assert.deepEqual(bad.body?.errors, { statusfilter: "invalid format - invalid status 'broken'\n" });
  });
});
