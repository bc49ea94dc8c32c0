import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, baseScenario, simPerTest, startSim, waitFor, waitTask } from './helpers.js';

const start = simPerTest();

type Row = Record<string, unknown>;

describe('cluster views', () => {
  it('GET /cluster/status: cluster entry with quorate, node entries with local/online', async () => {
    const s = await start();
    const rows = (await api(s, 'GET', '/cluster/status')).data as Row[];
    assert.deepEqual(rows[0], { type: 'cluster', id: 'cluster', name: 'lab', nodes: 3, version: 4, quorate: 1 });
    assert.deepEqual(
      rows.slice(1).map((r) => [r.name, r.nodeid, r.local, r.online]),
      [
        ['pve1', 1, 1, 1],
        ['pve2', 2, 0, 1],
        ['pve3', 3, 0, 1],
      ],
    );
  });

  it('a standalone node lists only itself', async () => {
    const s = await start((sc) => {
      sc.cluster = {};
      sc.nodes = [{ name: 'solo' }];
      sc.guests = [];
    });
    const rows = (await api(s, 'GET', '/cluster/status')).data as Row[];
    assert.deepEqual(rows, [{ type: 'node', id: 'node/solo', name: 'solo', nodeid: 1, ip: '192.0.2.11', local: 1, online: 1, level: '' }]);
  });

  it('GET /cluster/resources?type=vm: tags, template, pool, lock, hastate and qemu run state', async () => {
    const s = await start();
    const rows = (await api(s, 'GET', '/cluster/resources', { params: { type: 'vm' } })).data as Row[];
    const by = (vmid: number) => rows.find((r) => r.vmid === vmid)!;
    assert.deepEqual(
      [by(101).id, by(101).type, by(101).node, by(101).tags, by(101).pool, by(101).template, by(101).status],
      ['qemu/101', 'qemu', 'pve2', 'ups-shed;web', 'apps', 0, 'running'],
    );
    assert.equal(by(9000).template, 1);
    assert.equal(by(105).lock, 'backup');
    assert.equal(by(103).hastate, 'started');
    assert.equal(by(101).hastate, undefined);
    assert.equal(by(104).status, 'paused');
    assert.equal(by(106).type, 'lxc');
    assert.equal(rows.some((r) => r.type === 'node'), false);
    const nodes = (await api(s, 'GET', '/cluster/resources', { params: { type: 'node' } })).data as Row[];
    assert.deepEqual(
      nodes.map((n) => [n.id, n.status]),
      [
        ['node/pve1', 'online'],
        ['node/pve2', 'online'],
        ['node/pve3', 'online'],
      ],
    );
  });

  it('lists and reads guests per node: qemu/lxc lists, status/current, config', async () => {
    const s = await start();
    const qemu = (await api(s, 'GET', '/nodes/pve2/qemu', { params: { full: 1 } })).data as Row[];
    assert.deepEqual(qemu.map((g) => g.vmid).sort(), [101, 102, 104, 105, 9000]);
    assert.equal(qemu.find((g) => g.vmid === 104)!.qmpstatus, 'paused');
    const lxc = (await api(s, 'GET', '/nodes/pve3/lxc')).data as Row[];
    assert.deepEqual(lxc.map((g) => [g.vmid, g.status]).sort(), [
      [106, 'running'],
      [107, 'stopped'],
    ]);
    const cur = (await api(s, 'GET', '/nodes/pve3/qemu/103/status/current')).data as Row;
    assert.deepEqual([cur.status, cur.qmpstatus, cur.ha], ['running', 'running', { managed: 1, state: 'started' }]);
    const conf = (await api(s, 'GET', '/nodes/pve1/qemu/100/config')).data as Row;
    assert.equal(conf.startup, 'order=1');
    assert.equal(conf.tags, 'critical');
    assert.match(String(conf.digest), /^[0-9a-f]{40}$/);
    const ct = (await api(s, 'GET', '/nodes/pve3/lxc/106/config')).data as Row;
    assert.equal(ct.hostname, 'ct-up');
  });

  it('filters guests by VM.Audit', async () => {
    const s = await start((sc) => {
      const ups = (sc.users as Row[])[1]!;
      ups.tokens = [{ id: 'narrow', secret: 'abc-narrow', privileges: { '/vms/101': ['VM.Audit'] } }];
    });
    const rows = (await api(s, 'GET', '/cluster/resources', { params: { type: 'vm' }, auth: { token: 'ups@pve!narrow=abc-narrow' } })).data as Row[];
    assert.deepEqual(
      rows.map((r) => r.vmid),
      [101],
    );
  });
});

describe('node power', () => {
  it('shutdown: null at once, guests stopped, node offline, then 595 for it; quorum kept at 2 of 3', async () => {
    const s = await start();
    const r = await api(s, 'POST', '/nodes/pve3/status', { params: { command: 'shutdown' } });
    assert.equal(r.status, 200);
    assert.equal(r.data, null);
    await waitFor(s, () => s.cluster.node('pve3').state === 'offline', 300, 'pve3 offline');
    assert.equal(s.cluster.guest(106).running, false);
    const ev = s.state().guests.find((g) => g.vmid === 106)!.events;
    assert.equal(ev.find((e) => e.event === 'shutdown-requested')!.via, 'stopall');
    const after = await api(s, 'GET', '/nodes/pve3/qemu');
    assert.equal(after.status, 595);
    const status = (await api(s, 'GET', '/cluster/status')).data as Row[];
    assert.equal(status[0]!.quorate, 1);
    assert.equal(status.find((r) => r.name === 'pve3')!.online, 0);
    const resources = (await api(s, 'GET', '/cluster/resources', { params: { type: 'vm' } })).data as Row[];
    assert.equal(resources.find((r) => r.vmid === 106)!.status, 'unknown', 'guests of an offline node');
  });

  it('without quorum starts and config writes fail with 500 "cluster not ready - no quorum?"', async () => {
    const s = await start();
    s.cluster.powerOffNode('pve2');
    s.cluster.powerOffNode('pve3');
    const status = (await api(s, 'GET', '/cluster/status')).data as Row[];
    assert.equal(status[0]!.quorate, 0);
    for (const [method, path, params] of [
      ['POST', '/nodes/pve1/qemu/100/status/start', {}],
      ['PUT', '/cluster/ha/resources/vm:103', { state: 'stopped' }],
      ['PUT', '/cluster/options', { max_workers: 2 }],
      ['POST', '/cluster/ha/status/disarm-ha', { 'resource-mode': 'freeze' }],
    ] as const) {
      const r = await api(s, method, path, { params });
      assert.equal(r.status, 500, `${method} ${path}`);
      assert.equal(r.reason, 'cluster not ready - no quorum?');
    }
    const ok = await api(s, 'POST', '/nodes/pve1/qemu/100/status/shutdown');
    assert.equal(ok.status, 200, 'shutting a guest down needs no quorum');
  });

  it('wake-on-LAN returns the MAC and brings the node back after its boot time', async () => {
    const s = await start();
    s.cluster.powerOffNode('pve2');
    const r = await api(s, 'POST', '/nodes/pve2/wakeonlan');
    assert.equal(r.data, 'bc:24:11:00:00:02');
    await waitFor(s, () => s.cluster.node('pve2').state === 'online', 60, 'pve2 online');
    assert.equal((await api(s, 'GET', '/nodes/pve2/qemu')).status, 200);
  });

  it('wake-on-LAN needs the node MAC address', async () => {
    const s = await start((sc) => delete (sc.nodes as Row[])[2]!.mac);
    const e = await api(s, 'POST', '/nodes/pve3/wakeonlan');
    assert.equal(e.reason, "No wake on LAN MAC address defined for 'pve3'!");
  });

  it('stops listening while the local node is down (connection refused)', async () => {
    const s = await start();
    s.cluster.powerOffNode('pve1');
    await assert.rejects(api(s, 'GET', '/version'), (err: NodeJS.ErrnoException) => ['ECONNREFUSED', 'ECONNRESET'].includes(err.code!));
    s.cluster.powerOnNode('pve1');
    await waitFor(s, () => s.cluster.node('pve1').state === 'online', 60, 'pve1 online');
    await waitFor(s, async () => (await api(s, 'GET', '/version').catch(() => undefined))?.status === 200, 30, 'the API back');
  });
});

describe('HA, Ceph and datacenter options over the API', () => {
  it('disarm-ha/arm-ha exist from PVE 9.2 only', async () => {
    const old = await start((sc) => ((sc.cluster as Row).version = '9.1.9'));
    const r = await api(old, 'POST', '/cluster/ha/status/disarm-ha', { params: { 'resource-mode': 'freeze' } });
    assert.equal(r.status, 501);
    assert.equal(r.reason, "Method 'POST /cluster/ha/status/disarm-ha' not implemented");
    await old.close();

    const s = await start();
    const bad = await api(s, 'POST', '/cluster/ha/status/disarm-ha', { params: { 'resource-mode': 'off' } });
    assert.deepEqual(bad.body?.errors, { 'resource-mode': "value 'off' does not have a value in the enumeration 'freeze, ignore'" });
    assert.equal((await api(s, 'POST', '/cluster/ha/status/disarm-ha', { params: { 'resource-mode': 'freeze' } })).data, null);
    let status = (await api(s, 'GET', '/cluster/ha/status/current')).data as Row[];
    assert.deepEqual(
      status.find((e) => e.id === 'fencing'),
      { id: 'fencing', type: 'fencing', node: 'pve1', status: 'disarmed', 'armed-state': 'disarmed', resource_mode: 'freeze' },
    );
    await api(s, 'POST', '/cluster/ha/status/arm-ha');
    status = (await api(s, 'GET', '/cluster/ha/status/current')).data as Row[];
    assert.equal(status.find((e) => e.id === 'fencing')!['armed-state'], 'armed');
    assert.deepEqual(status.find((e) => e.id === 'quorum'), { id: 'quorum', type: 'quorum', node: 'pve1', status: 'OK', quorate: 1 });
    const svc = status.find((e) => e.id === 'service:vm:103')!;
    assert.deepEqual([svc.sid, svc.node, svc.state, svc.request_state], ['vm:103', 'pve3', 'started', 'started']);
    assert.match(String(status.find((e) => e.id === 'lrm:pve3')!.status), /^pve3 \(active, /);
  });

  it('lists HA resources and reads one by bare VMID', async () => {
    const s = await start();
    const list = (await api(s, 'GET', '/cluster/ha/resources', { params: { type: 'vm' } })).data as Row[];
    assert.deepEqual(
      list.map((r) => [r.sid, r.type, r.state]),
      [['vm:103', 'vm', 'started']],
    );
    assert.deepEqual((await api(s, 'GET', '/cluster/ha/resources', { params: { type: 'ct' } })).data, []);
    const one = (await api(s, 'GET', '/cluster/ha/resources/103')).data as Row;
    assert.equal(one.sid, 'vm:103');
    const stale = await api(s, 'PUT', '/cluster/ha/resources/vm:103', { params: { state: 'stopped', digest: '0'.repeat(40) } });
    assert.equal(stale.reason, 'detected modified configuration - file changed by other user? Try again.');
  });

  it('reads and sets Ceph flags: PUT /cluster/ceph/flags is a cephsetflags task', async () => {
    const s = await start();
    const flags = (await api(s, 'GET', '/cluster/ceph/flags')).data as Array<{ name: string; value: number; description: string }>;
    assert.equal(flags.length, 11);
    assert.deepEqual(flags.find((f) => f.name === 'noout')!.value, 0);
    const r = await api(s, 'PUT', '/cluster/ceph/flags', { params: { noout: 1, norecover: 1, norebalance: 1, nobackfill: 1 } });
    assert.match(String(r.data), /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:cephsetflags::ups@pve!daemon:$/);
    assert.equal((await waitTask(s, String(r.data))).exitstatus, 'OK');
    assert.equal((await api(s, 'GET', '/cluster/ceph/flags/norecover')).data, 1);
    await api(s, 'PUT', '/cluster/ceph/flags/noout', { params: { value: 0 } });
    assert.deepEqual(
      { ...s.state().cephFlags },
      { ...s.state().cephFlags, noout: false, norecover: true, norebalance: true, nobackfill: true },
    );
    const bad = await api(s, 'PUT', '/cluster/ceph/flags', { params: { noout: 'yes' } });
    assert.deepEqual(bad.body?.errors, { noout: "type check ('boolean') failed - got 'yes'" });
  });

  it('lists the Ceph monitors of the cluster', async () => {
    const s = await start();
    const mons = (await api(s, 'GET', '/nodes/pve1/ceph/mon')).data as Row[];
    assert.deepEqual(
      mons.map((m) => [m.name, m.host, m.quorum]),
      [
        ['pve1', 'pve1', 1],
        ['pve2', 'pve2', 1],
      ],
    );
    const none = await startSim({ ...baseScenario(), nodes: [{ name: 'pve1' }, { name: 'pve2' }, { name: 'pve3' }] });
    try {
      const r = await api(none, 'GET', '/nodes/pve1/ceph/mon');
      assert.equal(r.status, 500);
      assert.equal(r.reason, 'binary not installed: /usr/bin/ceph-mon');
    } finally {
      await none.close();
    }
  });

  it('reads and sets the HA shutdown policy through /cluster/options', async () => {
    const s = await start();
    assert.deepEqual((await api(s, 'GET', '/cluster/options')).data, {});
    const bad = await api(s, 'PUT', '/cluster/options', { params: { ha: 'shutdown_policy=never' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body?.errors, {
      ha: "invalid format - format error\nha.shutdown_policy: value 'never' does not have a value in the enumeration 'freeze, failover, conditional, migrate'\n",
    });
    await api(s, 'PUT', '/cluster/options', { params: { ha: 'shutdown_policy=freeze', max_workers: 3 } });
    assert.deepEqual((await api(s, 'GET', '/cluster/options')).data, { ha: { shutdown_policy: 'freeze' }, max_workers: 3 });
    assert.equal(s.cluster.shutdownPolicy(), 'freeze');
    await api(s, 'PUT', '/cluster/options', { params: { delete: 'ha' } });
    assert.deepEqual((await api(s, 'GET', '/cluster/options')).data, { max_workers: 3 });
  });
});
