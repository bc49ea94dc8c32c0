import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../helpers/manual-clock.js';
import { FakePve } from './fake-pve.js';
import { Crash, FakeHost, guest, harness, plan, settle, stage } from './helpers.js';

const T0 = new ManualClock().now();

describe('executor: crash-resume', () => {
  it('continues a stage interrupted mid-group without a second shutdown for any guest', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2', 'pve3'], [
      { vmid: 1201, node: 'pve1', shutdownMs: 5000 },
      { vmid: 1202, node: 'pve2', shutdownMs: null },
      { vmid: 1203, node: 'pve3', shutdownMs: 8000 },
      { vmid: 1204, node: 'pve1', shutdownMs: 1000 },
    ]);
    const shed = stage('shed', [
      [guest(1201, 'pve1'), guest(1202, 'pve2', { timeoutMs: 20_000 }), guest(1203, 'pve3')],
      [guest(1204, 'pve1')],
    ]);
    const p = plan([shed], ['pve2', 'pve3', 'pve1']);
    const crash = new Crash();
    const first = harness(clock, crash.wrap(pve), { clock: crash.clock(clock) });

    void first.executor.runStage(shed, p);
    await clock.advance(6000);
    crash.dead = true;
    // At the crash: 1201 confirmed stopped, 1202 and 1203 still shutting down.
    assert.deepEqual(
      [...first.journal.state.guests.values()].map((g) => [g.vmid, g.sent, g.stopped]),
      [[1201, true, true], [1202, true, false], [1203, true, false]],
    );

    const second = harness(clock, pve, { dir: first.dir });
    const resumed = await settle(clock, second.executor.resume(p));

    assert.equal(resumed.status, 'resumed');
    assert.deepEqual(
      resumed.stages[0]!.guests.map((g) => [g.guest.vmid, g.outcome]),
      [[1201, 'stopped'], [1202, 'stopped'], [1203, 'stopped'], [1204, 'stopped']],
    );
    for (const vmid of [1201, 1202, 1203, 1204]) {
      assert.equal(pve.callsOf('shutdownGuest', vmid).length, 1, `guest ${vmid} was sent one shutdown`);
    }
    // 1202 ignores ACPI: escalated at the deadline recorded before the crash, once.
    assert.deepEqual(pve.callsOf('stopGuest').map((c) => [c.vmid, c.at - T0]), [[1202, 20_000]]);
    assert.ok(pve.callsOf('shutdownGuest', 1204)[0]!.at >= pve.guest(1203).stoppedAt!);
    assert.equal(second.journal.state.stages.get('shed')?.status, 'done');
  });

  it('does not re-send node shutdowns that were sent before the crash', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2', 'pve3'], []);
    const s = stage('shutdown', [], true);
    const p = plan([s], ['pve3', 'pve2', 'pve1']);
    const crash = new Crash();
    const host1 = new FakeHost(clock);
    const first = harness(clock, crash.wrap(pve), { clock: crash.clock(clock), host: crash.wrap(host1) });

    void first.executor.runStage(s, p);
    await clock.advance(500);
    crash.dead = true;
    assert.deepEqual(pve.callsOf('shutdownNode').map((c) => c.node), ['pve3']);
    assert.equal(first.journal.state.pointOfNoReturn, true);

    const host2 = new FakeHost(clock);
    const second = harness(clock, pve, { dir: first.dir, host: host2 });
    assert.equal(second.executor.abort('mains back'), false);
    const resumed = await settle(clock, second.executor.resume(p));

    assert.equal(resumed.status, 'resumed');
    assert.deepEqual(pve.callsOf('shutdownNode').map((c) => c.node), ['pve3', 'pve2']);
    assert.deepEqual(host2.names(), ['killpower', 'shutdown']);
    assert.deepEqual(host1.names(), []);
  });

  it('repeats the host shutdown after a daemon restart in the same boot, never after a reboot', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], []);
    const s = stage('shutdown', [], true);
    const p = plan([s], ['pve1']);
    const host1 = new FakeHost(clock, 'boot-1');
    host1.hangShutdown = true;
    const first = harness(clock, pve, { host: host1 });

    void first.executor.runStage(s, p);
    await clock.advance(500);
    assert.deepEqual(host1.names(), ['killpower', 'shutdown']);

    const rebooted = new FakeHost(clock, 'boot-2');
    const afterReboot = harness(clock, pve, { dir: first.dir, host: rebooted });
    assert.deepEqual(await settle(clock, afterReboot.executor.resume(p)), { status: 'recovery-pending', stages: [] });
    assert.deepEqual(rebooted.names(), []);

    const restarted = new FakeHost(clock, 'boot-1');
    const sameBoot = harness(clock, pve, { dir: first.dir, host: restarted });
    const resumed = await settle(clock, sameBoot.executor.resume(p));
    assert.equal(resumed.status, 'resumed');
    // The flag was written before; only the command runs again.
    assert.deepEqual(restarted.names(), ['shutdown']);
  });

  it('after the hosts went down and booted again, a new power failure runs the final stage afresh', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [{ vmid: 1801, node: 'pve2', shutdownMs: 1000 }]);
    const s = stage('shutdown', [[guest(1801, 'pve2')]], true);
    const p = plan([s], ['pve2', 'pve1']);
    const first = harness(clock, pve, { host: new FakeHost(clock, 'boot-1') });
    await settle(clock, first.executor.runStage(s, p));

    // The cluster boots; Proxmox starts the guest (onboot); the daemon starts on the old journal.
    pve.nodeInfo.forEach((n) => (n.online = true));
    pve.guest(1801).status = 'running';
    const host = new FakeHost(clock, 'boot-2');
    const second = harness(clock, pve, { dir: first.dir, host });
    assert.equal((await second.executor.resume(p)).status, 'recovery-pending');

    const again = await settle(clock, second.executor.runStage(s, p));

    assert.equal(again.skipped, false);
    assert.deepEqual(again.guests.map((g) => [g.guest.vmid, g.outcome]), [[1801, 'stopped']]);
    assert.equal(pve.callsOf('shutdownGuest', 1801).length, 2);
    assert.deepEqual(pve.callsOf('shutdownNode').map((c) => c.node), ['pve2', 'pve2']);
    assert.deepEqual(host.names(), ['killpower', 'shutdown']);
    assert.deepEqual(second.journal.state.hostsDownRounds, [1]);
    assert.equal(second.journal.state.round, 2);
  });

  it('reports nothing to resume without an open outage, and idle when no stage was running', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 1301, node: 'pve1', shutdownMs: 1000 }]);
    const shed = stage('shed', [[guest(1301, 'pve1')]]);
    const p = plan([shed], ['pve1']);
    const h = harness(clock, pve);

    assert.deepEqual(await h.executor.resume(p), { status: 'no-outage', stages: [] });
    await settle(clock, h.executor.runStage(shed, p));
    assert.deepEqual(await h.executor.resume(p), { status: 'idle', stages: [] });
  });
});
