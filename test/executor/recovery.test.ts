import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { waitForStablePower, type PowerReading } from '../../src/executor/recovery.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { FakePve } from './fake-pve.js';
import { guest, harness, plan, settle, stage } from './helpers.js';

describe('recovery', () => {
  it('starts only the guests pvepower stopped, last stopped group first, as their rules say', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 1401, node: 'pve1', shutdownMs: 1000 },
      { vmid: 1402, node: 'pve2', shutdownMs: 1000 },
      { vmid: 1403, node: 'pve2', shutdownMs: 1000 },
      { vmid: 1404, node: 'pve1', status: 'stopped' },
      { vmid: 1405, node: 'pve1', shutdownMs: 1000 },
      { vmid: 1406, node: 'pve2', shutdownMs: null },
      { vmid: 1407, node: 'pve1', shutdownMs: 1000 },
    ]);
    const h = harness(clock, pve);
    const shed = stage('shed', [
      [guest(1401, 'pve1', { restartOnPowerReturn: true }), guest(1402, 'pve2'), guest(1404, 'pve1', { restartOnPowerReturn: true })],
      [guest(1403, 'pve2', { restartOnPowerReturn: true })],
    ]);
    const final = stage('shutdown', [[guest(1405, 'pve1')], [guest(1406, 'pve2', { timeoutMs: 60_000 }), guest(1407, 'pve1')]], true);
    const p = plan([shed, final], ['pve2', 'pve1']);

    await settle(clock, h.executor.runStage(shed, p));
    const run = h.executor.runStage(final, p);
    await clock.advance(15_000);
    // Mains is back: 1406 still shutting down (ignoring ACPI), 1407 stopped in the aborted group.
    assert.equal(h.executor.abort('mains returned'), true);
    assert.equal((await settle(clock, run)).aborted, true);

    const recovery = await settle(clock, h.executor.recover());

    // 1406's shutdown was still in flight: recovery gave it until its deadline, it stayed up.
    const starts = pve.callsOf('startGuest');
    assert.ok(starts[0]!.at >= pve.callsOf('shutdownGuest', 1406)[0]!.at + 60_000);
    // Reverse of the shutdown order: final group 2, final group 1, shed group 2, shed group 1.
    assert.deepEqual(starts.map((c) => c.vmid), [1407, 1405, 1403, 1401]);
    for (const [earlier, later] of [[1407, 1405], [1405, 1403], [1403, 1401]] as const) {
      assert.ok(pve.guest(earlier).startedAt! <= pve.callsOf('startGuest', later)[0]!.at, `${earlier} ran before ${later} started`);
    }
    assert.equal(pve.guest(1402).status, 'stopped');
    assert.equal(pve.guest(1404).status, 'stopped');
    assert.deepEqual(
      recovery.guests.map((g) => [g.guest.vmid, g.outcome]).sort(),
      [[1401, 'started'], [1402, 'left-stopped'], [1403, 'started'], [1405, 'started'], [1407, 'started']],
    );
    assert.equal(recovery.hostsWentDown, false);
    // The outage journal is archived and a fresh one started.
    assert.ok(recovery.archive && existsSync(recovery.archive));
    const archived = readFileSync(recovery.archive, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; phase: string });
    assert.deepEqual(archived.slice(-2).map((r) => `${r.op}:${r.phase}`), ['recovery:done', 'closed:info']);
    assert.equal(h.journal.entries().length, 0);
    assert.equal(h.journal.state.planId, undefined);
  });

  it('after the hosts went down: leaves final-stage guests to onboot, starts shed guests marked for restart', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1', 'pve2'], [
      { vmid: 1501, node: 'pve2', shutdownMs: 1000 },
      { vmid: 1502, node: 'pve2', shutdownMs: 1000 },
    ]);
    const h = harness(clock, pve);
    const shed = stage('shed', [[guest(1501, 'pve2', { restartOnPowerReturn: true })]]);
    const final = stage('shutdown', [[guest(1502, 'pve2')]], true);
    const p = plan([shed, final], ['pve2', 'pve1']);
    await settle(clock, h.executor.runStage(shed, p));
    await settle(clock, h.executor.runStage(final, p));
    pve.nodeInfo.forEach((n) => (n.online = true));

    const recovery = await settle(clock, h.executor.recover());

    assert.equal(recovery.hostsWentDown, true);
    assert.deepEqual(pve.callsOf('startGuest').map((c) => c.vmid), [1501]);
    assert.deepEqual(recovery.guests.find((g) => g.guest.vmid === 1502)?.outcome, 'left-stopped');
  });

  it('waits for quorum before starting guests', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [{ vmid: 1601, node: 'pve1', shutdownMs: 1000 }]);
    const h = harness(clock, pve);
    const shed = stage('shed', [[guest(1601, 'pve1', { restartOnPowerReturn: true })]]);
    await settle(clock, h.executor.runStage(shed, plan([shed], ['pve1'])));
    pve.quorate = false;
    const quorumAt = clock.now() + 45_000;
    clock.setTimeout(() => (pve.quorate = true), 45_000);

    await settle(clock, h.executor.recover());

    const start = pve.callsOf('startGuest', 1601);
    assert.equal(start.length, 1);
    assert.ok(start[0]!.at >= quorumAt);
  });

  it('a power failure during recovery aborts it; the next round keeps the guests still owed a start', async () => {
    const clock = new ManualClock();
    const pve = new FakePve(clock, ['pve1'], [
      { vmid: 1701, node: 'pve1', shutdownMs: 1000, startMs: 5000 },
      { vmid: 1702, node: 'pve1', shutdownMs: 1000, startMs: 5000 },
    ]);
    const h = harness(clock, pve);
    const shed = stage('shed', [[guest(1701, 'pve1', { restartOnPowerReturn: true })], [guest(1702, 'pve1', { restartOnPowerReturn: true })]]);
    const p = plan([shed], ['pve1']);
    await settle(clock, h.executor.runStage(shed, p));

    const power = new AbortController();
    const recovering = h.executor.recover({ signal: power.signal });
    await clock.advance(1000);
    // 1702 (stopped last) is starting; 1701 not yet.
    assert.deepEqual(pve.callsOf('startGuest').map((c) => c.vmid), [1702]);
    power.abort(new Error('power failed again'));
    const aborted = await settle(clock, recovering);
    assert.equal(aborted.aborted, true);
    assert.equal(h.journal.state.recovery, 'failed');
    await clock.advance(10_000);

    // Second round: 1702 runs again and is shut down again; 1701 is still off and left alone.
    const again = await settle(clock, h.executor.runStage(shed, p));
    assert.deepEqual(again.guests.map((g) => [g.guest.vmid, g.outcome]), [[1701, 'not-running'], [1702, 'stopped']]);
    assert.equal(pve.callsOf('shutdownGuest', 1701).length, 1);
    assert.equal(pve.callsOf('shutdownGuest', 1702).length, 2);

    const recovery = await settle(clock, h.executor.recover());
    assert.equal(recovery.aborted, false);
    assert.deepEqual(pve.callsOf('startGuest').map((c) => c.vmid), [1702, 1702, 1701]);
    assert.equal(pve.guest(1701).status, 'running');
    assert.equal(pve.guest(1702).status, 'running');
  });

  it('with nothing recorded there is nothing to recover', async () => {
    const clock = new ManualClock();
    const h = harness(clock, new FakePve(clock, ['pve1'], []));
    const result = await h.executor.recover();
    assert.deepEqual(result, { recovered: false, hostsWentDown: false, aborted: false, guests: [], cephUnset: [], haArmed: false });
  });
});

describe('waitForStablePower', () => {
  function feed(clock: ManualClock, script: Array<[atMs: number, reading: PowerReading]>): () => PowerReading {
    const start = clock.now();
    return () => [...script].reverse().find(([at]) => clock.now() - start >= at)![1];
  }

  it('needs mains for the whole delay without a break, and the minimum charge', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const read = feed(clock, [
      [0, { online: true, charge: 40 }],
      [20_000, { online: false, charge: 39 }],
      [22_000, { online: true, charge: 41 }],
      [40_000, { online: true, charge: 55 }],
      [90_000, { online: true, charge: 61 }],
    ]);
    let resolvedAt: number | undefined;
    const wait = waitForStablePower({ stableForMs: 60_000, minCharge: 60 }, read, { clock }).then(() => (resolvedAt = clock.now()));

    await clock.advance(85_000);
    assert.equal(resolvedAt, undefined, 'stable since 22 s, but charge still below 60 %');
    await settle(clock, wait);
    assert.equal(resolvedAt! - start, 90_000);
  });

  it('counts the delay from the last return of mains', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const read = feed(clock, [
      [0, { online: true }],
      [30_000, { online: false }],
      [31_000, { online: true }],
    ]);
    await settle(clock, waitForStablePower({ stableForMs: 60_000, minCharge: 50 }, read, { clock }));
    assert.equal(clock.now() - start, 91_000);
  });

  it('does not hold recovery back when the UPS reports no charge', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    await settle(clock, waitForStablePower({ stableForMs: 30_000, minCharge: 50 }, () => ({ online: true }), { clock }));
    assert.equal(clock.now() - start, 30_000);
  });

  it('rejects when aborted (power failed again)', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const wait = waitForStablePower({ stableForMs: 60_000, minCharge: 0 }, () => ({ online: false }), { clock, signal: controller.signal });
    await clock.advance(5000);
    controller.abort(new Error('on battery'));
    await assert.rejects(wait, /on battery/);
  });
});
