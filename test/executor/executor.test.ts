import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { KILLPOWER_MAGIC, SystemHost } from '../../src/host/host.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { recordingScript, tempDir } from '../host/recorder.js';
import { FakePve } from './fake-pve.js';
import { FakeHost, guest, harness, plan, settle, stage } from './helpers.js';

const T0 = new ManualClock().now();

function journalOps(h: { journal: { entries(): readonly { op: string; phase: string }[] } }): string[] {
  return h.journal.entries().map((r) => `${r.op}:${r.phase}`);
}

describe('executor: guest stages', () => {
  it('shuts down running guests of a shed stage, confirms by status, leaves stopped and skipped guests alone', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 101, node: 'pve2', shutdownMs: 3000 },
      { vmid: 102, node: 'pve2', status: 'stopped' },
      { vmid: 103, node: 'pve1' },
    ]);
    const h = harness(clock, pve);
    const shed = stage('shed', [[guest(101, 'pve2'), guest(102, 'pve2'), guest(103, 'pve1', { action: 'skip' })]]);

    const result = await settle(clock, h.executor.runStage(shed, plan([shed], ['pve2', 'pve1'])));

    assert.deepEqual(
      result.guests.map((g) => [g.guest.vmid, g.outcome]),
      [[101, 'stopped'], [102, 'not-running'], [103, 'skipped']],
    );
    assert.equal(result.aborted, false);
    const shutdowns = pve.callsOf('shutdownGuest');
    assert.deepEqual(shutdowns.map((c) => c.vmid), [101]);
    assert.deepEqual(shutdowns[0]!.args[0], { timeoutS: 60, forceStop: false });
    assert.equal(pve.guest(103).status, 'running');
    // Confirmed by a status poll after it stopped (3 s), not by the task.
    const stopped = h.events.find((e) => e.name === 'guest-stopped')!;
    assert.ok(stopped.at >= T0 + 3000 && stopped.at <= T0 + 3000 + 2000);
    assert.deepEqual(journalOps(h), [
      'outage:info', 'stage:intent', 'group:intent', 'guest-action:intent', 'guest-action:done', 'guest-stopped:done',
      'group:done', 'stage:done',
    ]);
    assert.equal(h.journal.state.guests.get(101)?.stopped, true);
    assert.equal(h.journal.state.guests.has(102), false);
    assert.deepEqual((h.host as FakeHost).names(), []);
  });

  it('runs groups strictly in order and the guests of a group in parallel', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2', 'pve3'], [
      { vmid: 201, node: 'pve1', shutdownMs: 4000 },
      { vmid: 202, node: 'pve2', shutdownMs: 9000 },
      { vmid: 203, node: 'pve1', shutdownMs: 2000 },
      { vmid: 204, node: 'pve3', shutdownMs: 2000 },
    ]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(201, 'pve1'), guest(202, 'pve2')], [guest(203, 'pve1'), guest(204, 'pve3')]]);

    await settle(clock, h.executor.runStage(s, plan([s], ['pve2', 'pve3', 'pve1'])));

    const at = (vmid: number) => pve.callsOf('shutdownGuest', vmid)[0]!.at;
    assert.equal(at(201), T0);
    assert.equal(at(202), T0);
    const group1Stopped = Math.max(pve.guest(201).stoppedAt!, pve.guest(202).stoppedAt!);
    assert.equal(group1Stopped, T0 + 9000);
    for (const vmid of [203, 204]) assert.ok(at(vmid) >= group1Stopped, `group 2 guest ${vmid} sent before group 1 stopped`);
    assert.equal(at(203), at(204));
    assert.equal(pve.guest(203).status, 'stopped');
    assert.equal(pve.guest(204).status, 'stopped');
  });

  it('force-stops a guest that ignores ACPI once its timeout passes (overrule-shutdown)', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 301, node: 'pve1', shutdownMs: null, stopMs: 1500 }]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(301, 'pve1', { timeoutMs: 30_000 })]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.equal(result.guests[0]!.outcome, 'stopped');
    const stops = pve.callsOf('stopGuest', 301);
    assert.equal(stops.length, 1);
    assert.equal(stops[0]!.at, T0 + 30_000);
    assert.deepEqual(stops[0]!.args[0], { overruleShutdown: true });
    assert.deepEqual(h.events.filter((e) => e.name === 'guest-escalated').map((e) => (e.data as { how: string }).how), ['stop']);
    const ops = journalOps(h);
    assert.ok(ops.indexOf('guest-escalate:intent') < ops.indexOf('guest-escalate:done'));
    assert.ok(ops.indexOf('guest-escalate:done') < ops.indexOf('guest-stopped:done'));
  });

  it("escalation 'leave' warns and moves on at the deadline without stopping the guest", async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [
      { vmid: 401, node: 'pve1', shutdownMs: null },
      { vmid: 402, node: 'pve1', shutdownMs: 1000 },
    ]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(401, 'pve1', { timeoutMs: 20_000, escalation: 'leave' })], [guest(402, 'pve1')]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.deepEqual(result.guests.map((g) => g.outcome), ['left', 'stopped']);
    assert.equal(pve.callsOf('stopGuest').length, 0);
    assert.equal(pve.guest(401).status, 'running');
    assert.equal(pve.callsOf('shutdownGuest', 402)[0]!.at, T0 + 20_000);
    assert.deepEqual(h.events.filter((e) => e.name === 'guest-escalated').map((e) => (e.data as { how: string }).how), ['leave']);
    assert.equal(h.journal.state.guests.get(401)?.left, true);
  });

  it('keeps at most perNodeLimit guest actions in flight per node', async () => {
    const clock = new ManualClock();
    const on1 = [501, 502, 503, 504, 505];
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      ...on1.map((vmid) => ({ vmid, node: 'pve1', shutdownMs: 5000 })),
      { vmid: 506, node: 'pve2', shutdownMs: 5000 },
      { vmid: 507, node: 'pve2', shutdownMs: 5000 },
    ]);
    const h = harness(clock, pve, { perNodeLimit: 2 });
    const s = stage('shed', [[...on1.map((v) => guest(v, 'pve1')), guest(506, 'pve2'), guest(507, 'pve2')]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve2', 'pve1'])));

    assert.ok(result.guests.every((g) => g.outcome === 'stopped'));
    assert.equal(pve.peakInFlight.get('pve1'), 2);
    assert.equal(pve.peakInFlight.get('pve2'), 2);
    // Both pve2 guests start at once; pve1 works through its five two at a time.
    assert.equal(pve.callsOf('shutdownGuest', 507)[0]!.at, T0);
    assert.ok(pve.callsOf('shutdownGuest', 505)[0]!.at >= T0 + 10_000);
  });

  it('hibernates VMs and shuts containers down instead, with a warning', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [
      { vmid: 601, node: 'pve1', shutdownMs: 2000 },
      { vmid: 602, node: 'pve1', type: 'lxc', shutdownMs: 2000 },
    ]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(601, 'pve1', { action: 'hibernate' }), guest(602, 'pve1', { type: 'lxc', action: 'hibernate' })]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.deepEqual(result.guests.map((g) => g.outcome), ['stopped', 'stopped']);
    assert.deepEqual(pve.callsOf('hibernateGuest').map((c) => c.vmid), [601]);
    assert.deepEqual(pve.callsOf('shutdownGuest').map((c) => c.vmid), [602]);
    assert.equal(pve.guest(601).hibernated, true);
    assert.ok(h.events.some((e) => e.name === 'warning' && /cannot hibernate/.test((e.data as { message: string }).message)));
  });
});

describe('executor: HA guests', () => {
  it('stop-states: stops an HA guest through HA, journals its previous state, restores it on recovery', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [{ vmid: 701, node: 'pve2', ha: 'started', shutdownMs: 4000 }]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(701, 'pve2', { ha: true, restartOnPowerReturn: true })]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve2', 'pve1'])));

    assert.equal(result.guests[0]!.outcome, 'stopped');
    assert.equal(pve.callsOf('shutdownGuest', 701).length, 1);
    assert.equal(pve.callsOf('stopGuest').length, 0);
    assert.equal(pve.guest(701).ha, 'stopped');
    const intent = h.journal.entries().find((r) => r.op === 'guest-action' && r.phase === 'intent');
    assert.deepEqual([intent && 'ha' in intent && intent.ha, intent && 'haPrev' in intent && intent.haPrev], [true, 'started']);

    const recovery = await settle(clock, h.executor.recover());

    assert.deepEqual(pve.callsOf('setHaState').map((c) => c.args), [['vm:701', 'started']]);
    assert.equal(pve.callsOf('startGuest').length, 0);
    assert.equal(pve.guest(701).status, 'running');
    assert.deepEqual(recovery.guests.map((g) => [g.guest.vmid, g.how, g.outcome]), [[701, 'ha-state', 'started']]);
  });

  it('escalates an HA guest through HA (no overrule-shutdown, which Proxmox refuses for HA)', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 702, node: 'pve1', type: 'lxc', ha: 'started', shutdownMs: null }]);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(702, 'pve1', { type: 'lxc', ha: true, timeoutMs: 20_000 })]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.equal(result.guests[0]!.outcome, 'stopped');
    const stops = pve.callsOf('stopGuest', 702);
    assert.equal(stops.length, 1);
    assert.deepEqual(stops[0]!.args[0], {});
    assert.deepEqual(h.events.filter((e) => e.name === 'guest-escalated').map((e) => (e.data as { how: string }).how), ['ha-stop']);
  });

  it('disarm mode: disarms HA after the final stage guests, before the first node shutdown; arms it on recovery', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 703, node: 'pve2', ha: 'started', shutdownMs: 6000 },
      { vmid: 704, node: 'pve1', shutdownMs: 2000 },
    ]);
    const h = harness(clock, pve, { haMode: 'disarm' });
    const s = stage('shutdown', [[guest(703, 'pve2', { ha: true }), guest(704, 'pve1')]], true);
    const p = plan([s], ['pve2', 'pve1']);

    const result = await settle(clock, h.executor.runStage(s, p));

    // The fake applies no HA command while frozen: the guest stopped, so the freeze came later.
    assert.equal(pve.guest(703).status, 'stopped');
    const disarm = pve.callsOf('disarmHa');
    assert.deepEqual(disarm.map((c) => c.args), [['freeze']]);
    assert.ok(disarm[0]!.at >= pve.guest(703).stoppedAt!);
    assert.ok(disarm[0]!.at <= pve.callsOf('shutdownNode')[0]!.at);
    assert.deepEqual(result.hosts?.nodesSent, ['pve2']);

    // The hosts went down and came back: HA is armed, then the HA guest's state restored.
    pve.nodeInfo.forEach((n) => (n.online = true));
    const recovery = await settle(clock, h.executor.recover());
    assert.equal(recovery.hostsWentDown, true);
    assert.equal(recovery.haArmed, true);
    const arm = pve.callsOf('armHa')[0]!;
    const restore = pve.callsOf('setHaState')[0]!;
    assert.deepEqual(restore.args, ['vm:703', 'started']);
    assert.ok(arm.at <= restore.at && pve.calls.indexOf(arm) < pve.calls.indexOf(restore));
    // A non-HA final-stage guest is left to Proxmox's onboot start after a full shutdown.
    assert.equal(pve.callsOf('startGuest').length, 0);
  });
});

describe('executor: final stage', () => {
  it('sets only the Ceph flags not already set, after all guests; recovery unsets only those', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 801, node: 'pve1', shutdownMs: 7000 }]);
    pve.ceph.noout = true;
    const h = harness(clock, pve, { ceph: { enabled: true, flags: ['noout', 'norebalance', 'norecover'] } });
    const s = stage('shutdown', [[guest(801, 'pve1')]], true);

    await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    const set = pve.callsOf('setCephFlags');
    assert.equal(set.length, 1);
    assert.deepEqual(set[0]!.args[0], { norebalance: true, norecover: true });
    assert.ok(set[0]!.at >= pve.guest(801).stoppedAt!);
    assert.deepEqual(h.journal.state.ceph, { set: ['norebalance', 'norecover'], already: ['noout'], unset: false });

    const recovery = await settle(clock, h.executor.recover());

    assert.deepEqual(recovery.cephUnset, ['norebalance', 'norecover']);
    assert.deepEqual(pve.callsOf('setCephFlags')[1]!.args[0], { norebalance: false, norecover: false });
    assert.deepEqual(pve.ceph, { noout: true, norebalance: false, norecover: false });
  });

  it('shuts the other nodes down in plan order a second apart, then writes the killpower flag, then runs the host command', async () => {
    const clock = new ManualClock();
    const dir = tempDir();
    const flagPath = join(dir, 'killpower');
    const shutdown = recordingScript(dir, 'shutdown.sh', { watch: flagPath });
    const wall = recordingScript(dir, 'wall.sh');
    const host = new SystemHost({
      killpowerFlagPath: flagPath,
      shutdownCommand: `'${shutdown.path}' -h +0`,
      wallCommand: wall.path,
      logger: silentLogger(),
    });
    const pve = new FakePve(clock, ['pve1', 'pve2', 'pve3', 'pve4'], [
      { vmid: 901, node: 'pve3', shutdownMs: 2000 },
      { vmid: 902, node: 'pve1', shutdownMs: 2000 },
    ]);
    const h = harness(clock, pve, { host });
    const s = stage('shutdown', [[guest(901, 'pve3'), guest(902, 'pve1')]], true);
    // pve2 runs a Ceph MON, so the plan puts it after pve3 and pve4.
    const p = plan([s], ['pve3', 'pve4', 'pve2', 'pve1'], ['pve2']);
    assert.equal(h.executor.pointOfNoReturn, false);

    const result = await settle(clock, h.executor.runStage(s, p));

    const sends = pve.callsOf('shutdownNode');
    assert.deepEqual(sends.map((c) => c.node), ['pve3', 'pve4', 'pve2']);
    assert.deepEqual(sends.map((c) => c.at - sends[0]!.at), [0, 1000, 2000]);
    assert.ok(sends[0]!.at >= pve.guest(901).stoppedAt!);
    assert.deepEqual(result.hosts, { nodesSent: ['pve3', 'pve4', 'pve2'], nodesFailed: [], nodesSkipped: [], killpower: 'written', hostShutdown: 'ran' });
    // The recording shutdown command saw the flag, holding exactly NUT's magic.
    assert.deepEqual(shutdown.runs(), [['-h +0', '', KILLPOWER_MAGIC]]);
    assert.equal(readFileSync(flagPath, 'utf8'), KILLPOWER_MAGIC);
    assert.equal(h.executor.pointOfNoReturn, true);
    assert.equal(h.executor.abort('mains back'), false);
    assert.ok(wall.runs().some(([, stdin]) => /this host shuts down now/.test(stdin!)));
    const ops = journalOps(h);
    assert.ok(ops.indexOf('node-shutdown:intent') < ops.indexOf('killpower:intent'));
    assert.ok(ops.indexOf('killpower:done') < ops.indexOf('host-shutdown:intent'));
    assert.equal(ops.at(-1), 'stage:done');
  });

  it('does not send a shutdown to a node the cluster reports offline, and skips other nodes when node shutdown is off', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2', 'pve3'], []);
    pve.nodeInfo.find((n) => n.node === 'pve3')!.online = false;
    const s = stage('shutdown', [], true);

    const h = harness(clock, pve);
    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve3', 'pve2', 'pve1'])));
    assert.deepEqual([result.hosts?.nodesSent, result.hosts?.nodesSkipped], [['pve2'], ['pve3']]);

    const pve2 = new FakePve(clock, ['pve1', 'pve2'], []);
    const h2 = harness(clock, pve2, { nodeShutdown: false });
    const result2 = await settle(clock, h2.executor.runStage(s, plan([s], ['pve2', 'pve1'])));
    assert.equal(pve2.callsOf('shutdownNode').length, 0);
    assert.deepEqual((h2.host as FakeHost).names(), ['killpower', 'shutdown']);
    assert.equal(result2.hosts?.hostShutdown, 'ran');
  });
});

describe('executor: failures', () => {
  it('retries a failing shutdown request with backoff on the clock', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 1001, node: 'pve1', shutdownMs: 2000 }]);
    pve.fail('shutdownGuest', 2, { vmid: 1001 });
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(1001, 'pve1')]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.equal(result.guests[0]!.outcome, 'stopped');
    assert.deepEqual(pve.callsOf('shutdownGuest', 1001).map((c) => c.at - T0), [0, 1000, 3000]);
    assert.equal(pve.callsOf('stopGuest').length, 0);
  });

  it('never re-sends a shutdown whose answer was lost: confirms it by the guest status', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 1005, node: 'pve1', shutdownMs: 4000 }]);
    pve.loseShutdownAnswer(1005, 1);
    const h = harness(clock, pve);
    const s = stage('shed', [[guest(1005, 'pve1', { timeoutMs: 60_000 })]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.equal(result.guests[0]!.outcome, 'stopped');
    assert.equal(pve.callsOf('shutdownGuest', 1005).length, 1);
    assert.equal(pve.callsOf('stopGuest', 1005).length, 0);
  });

  it('reports a guest that cannot be stopped and does not hold the plan past its budget', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 1002, node: 'pve1' },
      { vmid: 1003, node: 'pve2', shutdownMs: null, unstoppable: true },
      { vmid: 1004, node: 'pve2', shutdownMs: 1000 },
    ]);
    pve.fail('shutdownGuest', 100, { vmid: 1002 }, '500 VM is locked (backup)');
    pve.fail('stopGuest', 100, { vmid: 1002 }, '500 VM is locked (backup)');
    const h = harness(clock, pve, { escalationGraceMs: 30_000 });
    const s = stage('shed', [[guest(1002, 'pve1', { timeoutMs: 60_000 }), guest(1003, 'pve2', { timeoutMs: 60_000 })], [guest(1004, 'pve2')]]);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve2', 'pve1'])));

    assert.deepEqual(result.guests.map((g) => [g.guest.vmid, g.outcome]), [[1002, 'unresolved'], [1003, 'unresolved'], [1004, 'stopped']]);
    assert.match(result.guests[0]!.error!, /locked/);
    // 1002's request failed (3 tries), so it was stopped at once (3 tries), not after 60 s.
    assert.deepEqual(pve.callsOf('shutdownGuest', 1002).map((c) => c.at - T0), [0, 1000, 3000]);
    assert.deepEqual(pve.callsOf('stopGuest', 1002).map((c) => c.at - T0), [3000, 4000, 6000]);
    // Group budget: slowest timeout (60 s) + escalation grace (30 s), then the next group goes.
    assert.equal(pve.callsOf('shutdownGuest', 1004)[0]!.at, T0 + 90_000);
    const failed = h.events.filter((e) => e.name === 'guest-failed').map((e) => (e.data as { guest: { vmid: number } }).guest.vmid);
    assert.deepEqual(failed.sort(), [1002, 1003]);
    assert.equal(h.journal.entries().filter((r) => r.op === 'guest-unresolved').length, 2);
    assert.equal(h.journal.entries().filter((r) => r.op === 'guest-action' && r.phase === 'failed').length, 1);
  });

  it('tries the host shutdown command again when it fails', async () => {
    const clock = new ManualClock();
    const host = new FakeHost(clock);
    host.failShutdown = 1;
    const h = harness(clock, new FakePve(clock, ['pve1'], []), { host });
    const s = stage('shutdown', [], true);

    const result = await settle(clock, h.executor.runStage(s, plan([s], ['pve1'])));

    assert.equal(result.hosts?.hostShutdown, 'ran');
    const runs = host.actions.filter((a) => a.action === 'shutdown');
    assert.deepEqual(runs.map((a) => a.at - runs[0]!.at), [0, 10_000]);
    assert.deepEqual(runs.map((a) => a.detail), ['flag', 'flag']);
  });
});

describe('executor: abort', () => {
  it('before the point of no return: sends nothing more, does not escalate running shutdowns', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 1101, node: 'pve1', shutdownMs: null },
      { vmid: 1102, node: 'pve2', shutdownMs: 1000 },
    ]);
    const h = harness(clock, pve);
    const s = stage('shutdown', [[guest(1101, 'pve1', { timeoutMs: 30_000 })], [guest(1102, 'pve2')]], true);

    const run = h.executor.runStage(s, plan([s], ['pve2', 'pve1']));
    await clock.advance(10_000);
    assert.equal(h.executor.abort('mains returned'), true);
    const result = await settle(clock, run);
    await clock.advance(120_000);

    assert.equal(result.aborted, true);
    assert.equal(result.hosts, undefined);
    assert.deepEqual(result.guests.map((g) => g.outcome), ['aborted']);
    assert.equal(pve.callsOf('stopGuest').length, 0);
    assert.equal(pve.callsOf('shutdownGuest', 1102).length, 0);
    assert.equal(pve.callsOf('shutdownNode').length, 0);
    assert.deepEqual((h.host as FakeHost).names(), []);
    assert.equal(h.journal.state.stages.get('shutdown')?.status, 'failed');
    assert.equal(h.journal.state.pointOfNoReturn, false);
  });

  it('an external AbortSignal aborts the same way; a stage already finished is not run again', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [
      { vmid: 1103, node: 'pve1', shutdownMs: 1000 },
      { vmid: 1104, node: 'pve1', shutdownMs: 1000 },
    ]);
    const h = harness(clock, pve);
    const shed = stage('shed', [[guest(1103, 'pve1')]]);
    const other = stage('other', [[guest(1104, 'pve1')]]);
    const p = plan([shed, other], ['pve1']);

    await settle(clock, h.executor.runStage(shed, p));
    const again = await settle(clock, h.executor.runStage(shed, p));
    assert.equal(again.skipped, true);

    const controller = new AbortController();
    controller.abort(new Error('test abort'));
    const aborted = await settle(clock, h.executor.runStage(other, p, { signal: controller.signal }));
    assert.equal(aborted.aborted, true);
    assert.equal(pve.callsOf('shutdownGuest', 1104).length, 0);
    assert.equal(pve.callsOf('shutdownGuest', 1103).length, 1);
  });
});
