// A whole power outage, in-process, on the simulators: the daemon reads a simulated Megatec UPS
// and drives a simulated 3-node Proxmox VE cluster, all on one ScaledClock. Every assertion is
// on what the simulators saw (PVE audit log and state dump, the recorder's log), not on the
// daemon's own account of what it did.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { SystemHost, type HostActions } from '../../src/host/host.js';
import type { UpsEvent } from '../../src/monitor/types.js';
import { loadConfig } from '../../src/policy/config.js';
import { PveClient } from '../../src/pve/client.js';
import type { AuditEntry } from '../../src/sim/pve/audit.js';
import type { SimStateDump } from '../../src/sim/pve/cluster.js';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { createUpsSim, type UpsSim } from '../../src/sim/ups/simulator.js';
import {
  configYaml,
  guestOf,
  guestPosts,
  nodeOf,
  nodePowerPosts,
  outageScenario,
  recordingShutdownScript,
  secs,
  tempDir,
  withTimeout,
  writeSecret,
  type Recorder,
} from './helpers.js';

const SCALE = 40;
const SHED_DELAY_MS = 30_000;
const GROUP1_TIMEOUT_MS = 30_000;

const SHED = [201, 202];
const GROUPS: number[][] = [
  [300, 301, 302], // rule {}: group 1, 30 s timeout, escalation stop (301 ignores ACPI)
  [100, 104, 107], // tags critical: group 2 (104 is HA-managed)
  [110], // the NAS: group 3
];
const UNTOUCHABLE = [120, 9000]; // stopped guest, template

/** What the simulators looked like at the moment the daemon ran the host shutdown command. */
interface AtHostShutdown {
  simTime: number;
  nodePosts: AuditEntry[];
  nodeStates: Record<string, string>;
  flag: string | undefined;
}

/** The real SystemHost, with a snapshot of the simulators just before the shutdown command runs. */
class ObservedHost implements HostActions {
  readonly seen: AtHostShutdown[] = [];
  constructor(
    private readonly inner: SystemHost,
    private readonly snapshot: () => AtHostShutdown,
  ) {}
  writeKillpowerFlag() {
    return this.inner.writeKillpowerFlag();
  }
  removeStaleKillpowerFlag() {
    return this.inner.removeStaleKillpowerFlag();
  }
  killpowerFlagSet() {
    return this.inner.killpowerFlagSet();
  }
  runShutdownCommand() {
    this.seen.push(this.snapshot());
    return this.inner.runShutdownCommand();
  }
  notify(message: string) {
    return this.inner.notify(message);
  }
  bootId() {
    return this.inner.bootId();
  }
}

describe('power outage on a 3-node cluster (in-process daemon, simulators at ×40)', () => {
  const tmp = tempDir('outage');
  const clock = new ScaledClock(SCALE);
  let pveSim: PveSimulator;
  let ups: UpsSim;
  let pve: PveClient;
  let daemon: Daemon;
  let recorder: Recorder;
  let host: ObservedHost;
  let state: SimStateDump;
  const upsEvents: UpsEvent[] = [];
  let mainsOffAt = 0;
  let lbAt = 0;
  let wallRef: { sim: number; wall: number };
  const flagPath = join(tmp.dir, 'killpower');

  before(async () => {
    pveSim = await startPveSimulator({ scenario: outageScenario() as never, clock });
    ups = createUpsSim({ clock, seed: 1 });
    const secretFile = writeSecret(tmp.dir, pveSim.tokenSecret);
    recorder = recordingShutdownScript(tmp.dir, flagPath);
    const file = join(tmp.dir, 'pvepower.yaml');
    writeFileSync(file, configYaml({ sim: pveSim, secretFile, dir: tmp.dir, shutdownCommand: recorder.script }));
    const config = loadConfig(file);
    const logger = createLogger({ level: 'error' });
    pve = new PveClient({ host: '127.0.0.1', port: pveSim.port, tokenId: pveSim.tokenId, tokenSecretFile: secretFile, ca: pveSim.caPath, clock, logger });
    host = new ObservedHost(
      new SystemHost({ killpowerFlagPath: flagPath, shutdownCommand: recorder.script, wallCommand: '', logger }),
      () => {
        let flag: string | undefined;
        try {
          flag = readFileSync(flagPath, 'latin1');
        } catch {
          flag = undefined;
        }
        const s = pveSim.state();
        return {
          simTime: clock.now(),
          nodePosts: [...nodePowerPosts(pveSim, 'pve2'), ...nodePowerPosts(pveSim, 'pve3')],
          nodeStates: Object.fromEntries(s.nodes.map((n) => [n.name, n.state])),
          flag,
        };
      },
    );
    daemon = new Daemon({ config, transport: ups.transport(), pve, host, logger, clock });
    daemon.on('event', (e) => upsEvents.push(e));
    if (process.env.E2E_DEBUG) daemon.on('timeline', (e) => console.error(`${((e.time - mainsOffAt) / 1000).toFixed(1)} ${e.kind} ${e.text}`));

    await daemon.start();
    const wentDown = new Promise<void>((resolve) => daemon.on('idle', (e) => e.reason === 'host-shutdown' && resolve()));
    const shedDone = new Promise<void>((resolve) => daemon.executor.on('stage-done', (r) => r.stage === 'shed' && resolve()));
    await clock.sleep(3000);
    mainsOffAt = clock.now();
    ups.model.setMains(false);
    await withTimeout(shedDone, 15_000, 'the shed stage');
    // Some battery time passes before LB, so "nothing before LB" means something.
    await clock.sleep(10_000);
    lbAt = clock.now();
    ups.model.setLowBatteryMode('on');
    await withTimeout(wentDown, 25_000, 'the host shutdown');
    await daemon.stop();
    await withTimeout(daemon.settled(), 5000, 'the daemon to settle');
    state = pveSim.state();
    wallRef = { sim: clock.now(), wall: Date.now() };
    if (process.env.E2E_DEBUG) for (const e of pveSim.audit.entries()) console.error(`${((e.at - mainsOffAt) / 1000).toFixed(2)} ${e.method} ${e.path} ${e.status}`);
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    await pve?.close();
    await pveSim?.close();
    ups?.dispose();
    tmp.cleanup();
  });

  it('detects the mains failure (ONBATT) and the low battery (LOWBATT) from the UPS', () => {
    const onbatt = upsEvents.find((e) => e.event === 'ONBATT');
    const lowbatt = upsEvents.find((e) => e.event === 'LOWBATT');
    assert.ok(onbatt && onbatt.time >= mainsOffAt, 'ONBATT after the mains failed');
    assert.ok(lowbatt && lowbatt.time >= lbAt, 'LOWBATT after LB was raised');
  });

  it('sheds the ups-shed guests only after 30 s on battery, and nothing else before LB', () => {
    for (const vmid of SHED) {
      const g = guestOf(state, vmid);
      assert.equal(g.shutdownRequestedAt.length, 1, `shed guest ${vmid}: one shutdown request`);
      const delay = g.shutdownRequestedAt[0]! - mainsOffAt;
      assert.ok(delay >= SHED_DELAY_MS, `shed guest ${vmid} asked to shut down ${secs(delay)} after the mains failed: before the 30s delay`);
      // Plan reads and the status check come first; at ×40 each HTTPS round trip costs ~0.5 s
      // simulated (more on a loaded machine), so the upper bound is loose: the plan-read check
      // below pins the trigger time.
      assert.ok(delay <= SHED_DELAY_MS + 30_000, `shed guest ${vmid} asked ${secs(delay)} after the mains failed: late`);
      assert.ok(g.stoppedAt.length === 1 && g.stoppedAt[0]! < lbAt, `shed guest ${vmid} stopped before LB`);
    }
    // The stage's first plan read comes when the countdown expires (ONBATT within a poll of the
    // mains failure), not at some later poll or trigger.
    const planRead = pveSim.audit.find('GET', '/cluster/resources').find((e) => e.at > mainsOffAt);
    assert.ok(planRead, 'the shed stage read the cluster');
    const fired = planRead.at - mainsOffAt;
    assert.ok(fired >= SHED_DELAY_MS && fired <= SHED_DELAY_MS + 8000, `shed stage read the plan ${secs(fired)} after the mains failed`);
    for (const vmid of GROUPS.flat()) {
      const g = guestOf(state, vmid);
      assert.ok(g.shutdownRequestedAt.every((t) => t >= lbAt), `guest ${vmid} was asked to shut down before LB`);
    }
    // No POST at all reached the cluster between the mains failure and the shed delay.
    const early = pveSim.audit.entries().filter((e) => e.method !== 'GET' && e.at < mainsOffAt + SHED_DELAY_MS);
    assert.deepEqual(early.map((e) => `${e.method} ${e.path}`), []);
  });

  it('stops the final stage group by group: no guest of group k+1 is asked before every guest of group k is stopped', () => {
    for (const vmid of GROUPS.flat()) {
      const g = guestOf(state, vmid);
      assert.equal(g.shutdownRequestedAt.length, 1, `guest ${vmid}: exactly one shutdown request, got ${g.shutdownRequestedAt.length}`);
      assert.equal(g.status, 'stopped', `guest ${vmid} stopped`);
      assert.ok(g.stoppedAt.length >= 1, `guest ${vmid} has a stop time`);
    }
    for (let k = 0; k + 1 < GROUPS.length; k++) {
      const lastStop = Math.max(...GROUPS[k]!.map((v) => guestOf(state, v).stoppedAt[0]!));
      const firstNext = Math.min(...GROUPS[k + 1]!.map((v) => guestOf(state, v).shutdownRequestedAt[0]!));
      assert.ok(
        firstNext >= lastStop,
        `group ${k + 2} got its first shutdown ${secs(lastStop - firstNext)} before group ${k + 1} was all stopped`,
      );
    }
  });

  it('requests the guests of one group in parallel', () => {
    for (const [i, group] of GROUPS.entries()) {
      if (group.length < 2) continue;
      const requested = group.map((v) => guestOf(state, v).shutdownRequestedAt[0]!);
      const spread = Math.max(...requested) - Math.min(...requested);
      assert.ok(spread <= 5000, `group ${i + 1}: requests spread over ${secs(spread)}`);
      // Every guest was asked before the quickest one finished: they ran at the same time.
      const firstStop = Math.min(...group.map((v) => guestOf(state, v).stoppedAt[0]!));
      assert.ok(Math.max(...requested) < firstStop, `group ${i + 1}: a guest was only asked after another had stopped`);
    }
  });

  it('force-stops the guest that ignores ACPI after its 30 s timeout, and only that one', () => {
    const g = guestOf(state, 301);
    assert.equal(g.stopRequestedAt.length, 1, 'one hard stop for VM 301');
    const after = g.stopRequestedAt[0]! - g.shutdownRequestedAt[0]!;
    // The daemon's deadline starts at its journaled intent, a round trip (~0.5 s simulated at ×40)
    // before the request reaches the simulator.
    assert.ok(after >= GROUP1_TIMEOUT_MS - 1000, `hard stop ${secs(after)} after the shutdown: before the timeout`);
    assert.ok(after <= GROUP1_TIMEOUT_MS + 10_000, `hard stop ${secs(after)} after the shutdown: too late`);
    assert.equal(g.events.find((e) => e.event === 'stopped')?.detail, 'killed');
    const stop = guestPosts(pveSim, 301).filter((e) => e.path.endsWith('/status/stop'));
    assert.equal(stop.length, 1);
    assert.equal(stop[0]!.status, 200);
    assert.equal(String(stop[0]!.params['overrule-shutdown']), '1', 'the stop overrules the hanging shutdown task');
    for (const vmid of [...SHED, ...GROUPS.flat()].filter((v) => v !== 301)) {
      assert.deepEqual(guestOf(state, vmid).stopRequestedAt, [], `guest ${vmid} was not hard-stopped`);
    }
  });

  it('stops the HA guest through HA (hastop), then disarms HA before the node shutdowns', () => {
    const posts = guestPosts(pveSim, 104);
    assert.deepEqual(
      posts.map((e) => [e.path, e.status]),
      [['/nodes/pve3/qemu/104/status/shutdown', 200]],
    );
    const task = state.tasks.find((t) => t.type === 'hastop' && t.id === '104');
    assert.ok(task, 'a hastop task for 104');
    const res = state.ha.resources.find((r) => r.sid === 'vm:104');
    assert.equal(res?.state, 'stopped', 'the HA resource requested state is stopped');
    const g = guestOf(state, 104);
    assert.ok(g.events.some((e) => e.event === 'ha-shutdown' && e.via === 'ha'), 'the LRM shut it down');
    const disarm = pveSim.audit.find('POST', '/cluster/ha/status/disarm-ha');
    assert.equal(disarm.length, 1);
    assert.equal(disarm[0]!.status, 200);
    assert.equal(state.ha.armed, false);
    const lastGuestStop = Math.max(...GROUPS.flat().map((v) => guestOf(state, v).stoppedAt[0]!));
    const firstNode = Math.min(...[...nodePowerPosts(pveSim, 'pve2'), ...nodePowerPosts(pveSim, 'pve3')].map((e) => e.at));
    assert.ok(disarm[0]!.at >= lastGuestStop && disarm[0]!.at <= firstNode, 'disarm between the last guest and the first node');
    const ceph = pveSim.audit.find('PUT', '/cluster/ceph/flags/*');
    assert.deepEqual(ceph.map((e) => e.path.split('/').pop()).sort(), ['nobackfill', 'noout', 'norebalance', 'norecover']);
    assert.ok(ceph.every((e) => e.status === 200 && e.at >= lastGuestStop && e.at <= firstNode), 'Ceph flags between the last guest and the first node');
    for (const f of ['noout', 'norecover', 'norebalance', 'nobackfill']) assert.equal(state.cephFlags[f], true, `Ceph flag ${f}`);
  });

  it('sends the other nodes command=shutdown (Ceph MONs last), never this host', () => {
    const p3 = nodePowerPosts(pveSim, 'pve3');
    const p2 = nodePowerPosts(pveSim, 'pve2');
    assert.equal(p3.length, 1, 'one shutdown for pve3');
    assert.equal(p2.length, 1, 'one shutdown for pve2');
    for (const p of [...p2, ...p3]) {
      assert.equal(p.params.command, 'shutdown');
      assert.equal(p.status, 200);
    }
    assert.ok(p3[0]!.seq < p2[0]!.seq, 'pve3 (no Ceph MON) before pve2 (MON)');
    assert.deepEqual(nodePowerPosts(pveSim, 'pve1'), [], 'this host goes down by its own command, not the API');
    assert.deepEqual(nodeOf(state, 'pve1').shutdownRequestedAt, []);
    const lastGuestStop = Math.max(...GROUPS.flat().map((v) => guestOf(state, v).stoppedAt[0]!));
    assert.ok(p3[0]!.at >= lastGuestStop, 'no node shutdown while guests still ran');
  });

  it("runs this host's shutdown command last, once, after the node shutdowns and with the killpower flag in place", () => {
    assert.equal(host.seen.length, 1, 'the host shutdown command ran once');
    const seen = host.seen[0]!;
    assert.deepEqual(
      seen.nodePosts.map((e) => [e.path, e.status]).sort(),
      [
        ['/nodes/pve2/status', 200],
        ['/nodes/pve3/status', 200],
      ],
      'both node shutdowns were answered before the host command ran',
    );
    assert.notEqual(seen.nodeStates.pve2, 'online');
    assert.notEqual(seen.nodeStates.pve3, 'online');
    assert.ok(seen.flag?.startsWith('upsmon-shutdown-file'), `killpower flag at host shutdown: ${JSON.stringify(seen.flag)}`);

    const runs = recorder.runs();
    assert.equal(runs.length, 1, 'the recording script ran once');
    assert.equal(runs[0]!.flag, 'upsmon-shutdown-file', 'the script found the killpower flag');
    // The script's wall clock stamp on the simulated clock (±1 ms of wall time = ±40 ms simulated).
    const scriptSim = wallRef.sim + (Number(runs[0]!.wallNs / 1_000_000n) - wallRef.wall) * SCALE;
    const lastNode = Math.max(...seen.nodePosts.map((e) => e.at));
    assert.ok(scriptSim + SCALE >= lastNode, `the script ran ${secs(lastNode - scriptSim)} before the last node shutdown`);
    assert.ok(readFileSync(flagPath, 'latin1').startsWith('upsmon-shutdown-file'));
    assert.ok(upsEvents.some((e) => e.event === 'SHUTDOWN'), 'NUT SHUTDOWN notification');
  });

  it('leaves the stopped guest and the template alone', () => {
    for (const vmid of UNTOUCHABLE) {
      assert.deepEqual(guestPosts(pveSim, vmid), [], `no POST for ${vmid}`);
      const g = guestOf(state, vmid);
      assert.deepEqual([g.shutdownRequestedAt, g.stopRequestedAt, g.startRequestedAt], [[], [], []]);
    }
  });
});
