import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../helpers/manual-clock.js';
import { SimCluster } from '../../../src/sim/pve/cluster.js';
import { ApiError } from '../../../src/sim/pve/errors.js';
import { parseScenario } from '../../../src/sim/pve/scenario.js';
import { baseScenario } from './helpers.js';

/** The model on a manual clock: exact simulated times, no HTTP. */
function model(edit?: (s: Record<string, unknown>) => void): { c: SimCluster; clock: ManualClock; t0: number } {
  const scenario = baseScenario();
  edit?.(scenario);
  const clock = new ManualClock();
  return { c: new SimCluster(parseScenario(scenario), clock), clock, t0: clock.now() };
}

const S = 1000;
const USER = 'ups@pve!daemon';

/** Simulated seconds after t0 at which each `event` of a guest happened. */
function at(c: SimCluster, vmid: number, event: string, t0: number): number[] {
  return c.guest(vmid).events.filter((e) => e.event === event).map((e) => (e.at - t0) / S);
}

function throwsApi(fn: () => unknown, status: number, message: string): void {
  assert.throws(fn, (err: unknown) => err instanceof ApiError && err.status === status && err.message === `${message}\n`);
}

describe('guest timing (manual clock)', () => {
  it('a graceful shutdown takes exactly shutdownSeconds', async () => {
    const { c, clock, t0 } = model();
    const upid = c.shutdownGuest(c.guest(101), { timeoutS: 60, forceStop: false, skiplock: false }, USER);
    await clock.advance(10 * S - 1);
    assert.equal(c.guest(101).running, true);
    await clock.advance(1);
    assert.equal(c.guest(101).running, false);
    assert.deepEqual(at(c, 101, 'stopped', t0), [10]);
    assert.equal(c.tasks.get(upid)!.exitstatus, 'OK');
  });

  it('forceStop: SIGTERM at the timeout, gone 10 s later', async () => {
    const { c, clock, t0 } = model();
    const upid = c.shutdownGuest(c.guest(102), { timeoutS: 30, forceStop: true, skiplock: false }, USER);
    await clock.advance(39 * S);
    assert.equal(c.guest(102).running, true);
    assert.equal(c.tasks.get(upid)!.status, 'running');
    await clock.advance(1 * S);
    assert.deepEqual(at(c, 102, 'stopped', t0), [40]);
    assert.equal(c.tasks.get(upid)!.exitstatus, 'WARNINGS: 1');
    assert.ok(c.tasks.get(upid)!.log.includes('WARN: VM still running - terminating now with SIGTERM'));
  });

  it('HA: hastop ends at once; the LRM shuts the guest down after the HA latency', async () => {
    const { c, clock, t0 } = model();
    const upid = c.shutdownGuest(c.guest(103), { timeoutS: 60, forceStop: false, skiplock: false }, USER);
    await clock.advance(0);
    assert.equal(c.tasks.get(upid)!.exitstatus, 'OK');
    assert.equal(c.haResources.get('vm:103')!.state, 'stopped');
    await clock.advance(30 * S);
    assert.deepEqual(at(c, 103, 'stopped', t0), [2 + 15]);
    assert.equal(c.haResources.get('vm:103')!.crmState, 'stopped');
  });

  it('GET /cluster/resources status lags by resourcesLagSeconds', async () => {
    const { c, clock } = model((s) => ((s.cluster as Record<string, unknown>).resourcesLagSeconds = 10));
    c.stopGuest(c.guest(101), { overrule: false, skiplock: false }, USER);
    await clock.advance(5 * S);
    assert.equal(c.guest(101).running, false);
    assert.equal(c.reportedStatus(c.guest(101)), 'running');
    await clock.advance(5 * S);
    assert.equal(c.reportedStatus(c.guest(101)), 'stopped');
    assert.equal(c.reportedStatus(c.guest(104)), 'paused');
  });
});

describe('node shutdown (manual clock)', () => {
  const pve1Guests = (s: Record<string, unknown>) => {
    s.guests = [
      { vmid: 100, node: 'pve1', status: 'running', startup: 'order=1', shutdownSeconds: 20 },
      { vmid: 110, node: 'pve1', status: 'running', startup: 'order=2,down=100', shutdownSeconds: 5 },
      { vmid: 111, node: 'pve1', status: 'running', shutdownSeconds: 3 },
      { vmid: 112, node: 'pve1', status: 'running', shutdownSeconds: 3 },
      { vmid: 113, node: 'pve1', status: 'stopped' },
      { vmid: 120, node: 'pve2', status: 'running', shutdownSeconds: 3 },
    ];
  };

  it('runs stopall: unordered first, then descending order, groups in parallel; then goes offline', async () => {
    const { c, clock, t0 } = model(pve1Guests);
    c.nodePower(c.node('pve1'), 'shutdown');
    assert.equal(c.node('pve1').state, 'shutting-down');
    await clock.advance(100 * S);
    assert.deepEqual(at(c, 112, 'shutdown-requested', t0), [2]);
    assert.deepEqual(at(c, 111, 'shutdown-requested', t0), [2], 'same group: in parallel');
    assert.deepEqual(at(c, 110, 'shutdown-requested', t0), [5]);
    assert.deepEqual(at(c, 100, 'shutdown-requested', t0), [10]);
    assert.deepEqual(at(c, 100, 'stopped', t0), [30]);
    assert.deepEqual(at(c, 113, 'shutdown-requested', t0), [], 'stopped guests are skipped');
    assert.equal(c.node('pve1').state, 'offline');
    assert.deepEqual(
      c.node('pve1').events.filter((e) => e.event === 'offline').map((e) => (e.at - t0) / S),
      [35],
    );
    assert.equal(c.guest(120).running, true, 'other nodes are not affected');
    const stopall = c.tasks.all().find((t) => t.type === 'stopall')!;
    assert.equal(stopall.node, 'pve1');
    assert.equal(stopall.exitstatus, 'OK');
  });

  it('honours max_workers inside a group', async () => {
    const { c, clock, t0 } = model((s) => {
      pve1Guests(s);
      (s.cluster as Record<string, unknown>).options = { max_workers: 1 };
    });
    c.nodePower(c.node('pve1'), 'shutdown');
    await clock.advance(100 * S);
    assert.deepEqual(at(c, 112, 'shutdown-requested', t0), [2], 'VMIDs descending');
    assert.deepEqual(at(c, 111, 'shutdown-requested', t0), [5]);
  });

  it('loses quorum when a majority is off: starts, HA changes and option writes fail', async () => {
    const { c, clock } = model();
    c.nodePower(c.node('pve2'), 'shutdown');
    await clock.advance(200 * S);
    assert.equal(c.isQuorate(), true, '2 of 3 votes');
    c.powerOffNode('pve3');
    assert.equal(c.isQuorate(), false);
    throwsApi(() => c.startGuest(c.guest(100), { skiplock: false }, USER), 500, 'cluster not ready - no quorum?');
    throwsApi(() => c.updateHaResource(c.haResources.get('vm:103')!, { state: 'stopped' }), 500, 'cluster not ready - no quorum?');
    throwsApi(() => c.setOptions({ max_workers: 2 }, []), 500, 'cluster not ready - no quorum?');
    // Shutting down a non-HA guest needs no quorum.
    const upid = c.shutdownGuest(c.guest(100), { timeoutS: 60, forceStop: false, skiplock: false }, USER);
    await clock.advance(30 * S);
    assert.equal(c.tasks.get(upid)!.exitstatus, 'OK');
  });

  it('wake-on-LAN boots a node after bootSeconds; startall then starts its onboot guests', async () => {
    const { c, clock, t0 } = model((s) => {
      pve1Guests(s);
      (s.guests as Array<Record<string, unknown>>)[5]!.onboot = true;
    });
    c.nodePower(c.node('pve2'), 'shutdown');
    await clock.advance(60 * S);
    assert.equal(c.node('pve2').state, 'offline');
    assert.equal(c.wakeNode(c.node('pve2')), 'bc:24:11:00:00:02');
    await clock.advance(29 * S);
    assert.equal(c.node('pve2').state, 'booting');
    await clock.advance(2 * S);
    assert.equal(c.node('pve2').state, 'online');
    assert.equal(c.guest(120).running, true);
    assert.equal(c.guest(120).events.at(-1)!.via, 'startall');
    assert.ok(at(c, 120, 'started', t0)[0]! >= 60 + 30);
  });
});

describe('HA and quorum (manual clock)', () => {
  it('a node with an active LRM self-fences 60 s after losing quorum', async () => {
    const { c, clock, t0 } = model();
    c.powerOffNode('pve1');
    c.powerOffNode('pve2');
    await clock.advance(59 * S);
    assert.equal(c.node('pve3').state, 'online');
    await clock.advance(1 * S);
    const fenced = c.node('pve3').events.find((e) => e.event === 'fenced');
    assert.ok(fenced, 'pve3 carries HA resource vm:103');
    assert.equal((fenced.at - t0) / S, 60);
    assert.equal(c.guest(103).running, false);
    await clock.advance(30 * S);
    assert.equal(c.node('pve3').state, 'online', 'the watchdog reset reboots it');
  });

  it('does not fence while HA is disarmed (PVE 9.2)', async () => {
    const { c, clock } = model();
    c.disarmHa('freeze');
    c.powerOffNode('pve1');
    c.powerOffNode('pve2');
    await clock.advance(120 * S);
    assert.equal(c.node('pve3').events.some((e) => e.event === 'fenced'), false);
    assert.equal(c.guest(103).running, true);
  });

  it('recovers the services of a lost node on a quorate cluster after haRecoverySeconds', async () => {
    const { c, clock, t0 } = model();
    c.powerOffNode('pve3');
    await clock.advance(1 * S);
    assert.equal(c.haResources.get('vm:103')!.crmState, 'fence');
    await clock.advance(130 * S);
    const g = c.guest(103);
    assert.notEqual(g.node, 'pve3');
    assert.equal(g.running, true);
    assert.deepEqual(at(c, 103, 'recovered', t0), [120]);
  });

  it('shutdown_policy freeze: the LRM stops HA guests, they stay frozen and come back with their node', async () => {
    const { c, clock } = model((s) => ((s.cluster as Record<string, unknown>).options = { ha: 'shutdown_policy=freeze' }));
    c.nodePower(c.node('pve3'), 'shutdown');
    await clock.advance(300 * S);
    assert.equal(c.node('pve3').state, 'offline');
    assert.equal(c.guest(103).node, 'pve3', 'no recovery');
    assert.equal(c.haResources.get('vm:103')!.crmState, 'freeze');
    c.wakeNode(c.node('pve3'));
    await clock.advance(40 * S);
    assert.equal(c.guest(103).running, true);
    assert.equal(c.haResources.get('vm:103')!.crmState, 'started');
  });

  it('shutdown_policy migrate: HA guests move to another node before the node goes down', async () => {
    const { c, clock } = model((s) => ((s.cluster as Record<string, unknown>).options = { ha: 'shutdown_policy=migrate' }));
    c.nodePower(c.node('pve3'), 'shutdown');
    await clock.advance(100 * S);
    const g = c.guest(103);
    assert.notEqual(g.node, 'pve3');
    assert.equal(g.running, true);
    assert.ok(g.events.some((e) => e.event === 'migrated'));
    assert.equal(c.guest(106).running, false, 'the non-HA container was shut down by stopall');
  });

  it('while disarmed in ignore mode, guests are handled directly', async () => {
    const { c, clock } = model();
    c.disarmHa('ignore');
    const upid = c.shutdownGuest(c.guest(103), { timeoutS: 60, forceStop: false, skiplock: false }, USER);
    assert.equal(c.tasks.get(upid)!.type, 'qmshutdown');
    await clock.advance(20 * S);
    assert.equal(c.guest(103).running, false);
    c.armHa();
    await clock.advance(10 * S);
    assert.equal(c.guest(103).running, true, 'armed again, the CRM restores the requested state');
  });
});

describe('Ceph and options (manual clock)', () => {
  it('needs a Ceph cluster with a MON quorum', () => {
    const { c } = model();
    c.setCephFlag('noout', true);
    assert.equal(c.cephFlags.noout, true);
    c.powerOffNode('pve2');
    throwsApi(() => c.cephFlagList(), 500, 'got timeout');
    const none = model((s) => (s.nodes as Array<Record<string, unknown>>).forEach((n) => (n.cephMon = false)));
    throwsApi(() => none.c.cephFlagList(), 500, 'binary not installed: /usr/bin/ceph-mon');
  });

  it('reads the HA shutdown policy from datacenter options', () => {
    const { c } = model();
    assert.equal(c.shutdownPolicy(), 'conditional');
    c.setOptions({ ha: 'shutdown_policy=failover' }, []);
    assert.equal(c.shutdownPolicy(), 'failover');
    assert.deepEqual(c.optionsView(), { ha: { shutdown_policy: 'failover' } });
  });
});
