// The mains come back after the shed stage and before the final one: the daemon must recover
// what it shed (restart_on_power_return) once the mains have been stable for recovery.delay and
// the battery holds recovery.min_charge, and must not touch anything else. In-process daemon on
// the simulators (×40); assertions on the PVE simulator's audit log and state dump.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScaledClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { SystemHost } from '../../src/host/host.js';
import type { UpsEvent } from '../../src/monitor/types.js';
import { loadConfig } from '../../src/policy/config.js';
import { PveClient } from '../../src/pve/client.js';
import type { SimStateDump } from '../../src/sim/pve/cluster.js';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { createUpsSim } from '../../src/sim/ups/simulator.js';
import {
  configYaml,
  guestOf,
  guestPosts,
  outageScenario,
  recordingShutdownScript,
  secs,
  tempDir,
  withTimeout,
  writeSecret,
  type Recorder,
} from './helpers.js';

const SCALE = 40;
const RECOVERY_DELAY_MS = 20_000;
const MIN_CHARGE = 50;
/** Shed and started again on power return. */
const RESTART = [201, 202];
/** Shed, but its rule says restart_on_power_return: false. */
const SHED_ONLY = 203;

interface Run {
  pveSim: PveSimulator;
  state: SimStateDump;
  events: UpsEvent[];
  mainsOffAt: number;
  mainsOnAt: number;
  /** The daemon's battery.charge when recovery began starting guests. */
  chargeAtRecovery: number | undefined;
  recoveredAt: number | undefined;
  outageOpen: boolean;
  /** The daemon's battery.charge at the end. */
  chargeAtEnd: number;
  recorder: Recorder;
  flagPath: string;
}

/**
 * Mains fail, the shed stage runs to its end, 5 s later the mains return; then waits until the
 * daemon says it recovered (or `holdMs` of simulated time, when recovery is expected to wait).
 */
async function outageWithPowerReturn(opts: { battery?: string; minCharge?: number; holdMs?: number }): Promise<Run> {
  const tmp = tempDir('power-return');
  const clock = new ScaledClock(SCALE);
  const scenario = outageScenario();
  (scenario.guests as unknown[]).push({ vmid: 203, node: 'pve1', name: 'batch', status: 'running', tags: ['ups-shed-once'], shutdownSeconds: 6 });
  const pveSim = await startPveSimulator({ scenario: scenario as never, clock });
  const ups = createUpsSim({ clock, seed: 2 });
  const logger = createLogger({ level: 'error' });
  const secretFile = writeSecret(tmp.dir, pveSim.tokenSecret);
  const flagPath = join(tmp.dir, 'killpower');
  const recorder = recordingShutdownScript(tmp.dir, flagPath);
  const file = join(tmp.dir, 'pvepower.yaml');
  writeFileSync(
    file,
    configYaml({
      sim: pveSim,
      secretFile,
      dir: tmp.dir,
      shutdownCommand: recorder.script,
      recovery: `  delay: ${RECOVERY_DELAY_MS / 1000}s\n  min_charge: ${opts.minCharge ?? MIN_CHARGE}`,
      firstRules: '  - match: { tags: [ups-shed-once] }\n    stage: shed\n    timeout: 60s\n    restart_on_power_return: false\n',
      ...(opts.battery ? { battery: opts.battery } : {}),
    }),
  );
  const pve = new PveClient({ host: '127.0.0.1', port: pveSim.port, tokenId: pveSim.tokenId, tokenSecretFile: secretFile, ca: pveSim.caPath, clock, logger });
  const host = new SystemHost({ killpowerFlagPath: flagPath, shutdownCommand: recorder.script, wallCommand: '', logger });
  const daemon = new Daemon({ config: loadConfig(file), transport: ups.transport(), pve, host, logger, clock });
  const events: UpsEvent[] = [];
  daemon.on('event', (e) => events.push(e));
  let chargeAtRecovery: number | undefined;
  daemon.executor.on('recovery-start', () => (chargeAtRecovery = Number(daemon.snapshot().charge)));
  let recoveredAt: number | undefined;
  const recovered = new Promise<void>((resolve) =>
    daemon.on('idle', (e) => {
      if (e.reason !== 'recovered') return;
      recoveredAt = clock.now();
      resolve();
    }),
  );
  try {
    await daemon.start();
    const shedDone = new Promise<void>((resolve) => daemon.executor.on('stage-done', (r) => r.stage === 'shed' && resolve()));
    await clock.sleep(3000);
    const mainsOffAt = clock.now();
    ups.model.setMains(false);
    await withTimeout(shedDone, 15_000, 'the shed stage');
    await clock.sleep(5000);
    const mainsOnAt = clock.now();
    ups.model.setMains(true);
    if (opts.holdMs === undefined) await withTimeout(recovered, 15_000, 'the recovery');
    else await clock.sleep(opts.holdMs);
    const outageOpen = daemon.snapshot().outageOpen === true;
    const chargeAtEnd = Number(daemon.snapshot().charge);
    await daemon.stop();
    return { pveSim, state: pveSim.state(), events, mainsOffAt, mainsOnAt, chargeAtRecovery, recoveredAt, outageOpen, chargeAtEnd, recorder, flagPath };
  } finally {
    await daemon.stop().catch(() => undefined);
    await pve.close();
    await pveSim.close();
    ups.dispose();
    tmp.cleanup();
  }
}

/** Everything but the shed guests and their status reads: must not have been sent at all. */
function assertNothingElseTouched(run: Run, allowed: number[]): void {
  const { pveSim, state } = run;
  for (const g of state.guests) {
    if (allowed.includes(g.vmid)) continue;
    assert.deepEqual(guestPosts(pveSim, g.vmid), [], `no POST for guest ${g.vmid}`);
    assert.deepEqual([g.shutdownRequestedAt, g.stopRequestedAt, g.startRequestedAt], [[], [], []], `guest ${g.vmid} untouched`);
  }
  for (const n of state.nodes) assert.deepEqual(n.shutdownRequestedAt, [], `no shutdown for node ${n.name}`);
  const other = pveSim.audit
    .entries()
    .filter((e) => e.method !== 'GET' && !allowed.some((v) => new RegExp(`^/nodes/[^/]+/(qemu|lxc)/${v}/status/(shutdown|start)$`).test(e.path)));
  assert.deepEqual(other.map((e) => `${e.method} ${e.path}`), [], 'no other POST/PUT/DELETE (no Ceph flags, no HA, no node shutdown)');
  assert.equal(state.ha.armed, true, 'HA still armed');
  assert.ok(Object.values(state.cephFlags).every((v) => !v), 'no Ceph flag set');
  assert.equal(existsSync(run.flagPath), false, 'no killpower flag');
  assert.deepEqual(run.recorder.runs(), [], 'the host shutdown command never ran');
  assert.ok(!run.events.some((e) => e.event === 'SHUTDOWN'), 'no NUT SHUTDOWN');
}

describe('mains return after the shed stage, before the final stage', () => {
  it('restarts the shed guests (restart_on_power_return) after recovery.delay at charge >= min_charge; touches nothing else', async () => {
    const run = await outageWithPowerReturn({});
    const { state, mainsOnAt, mainsOffAt } = run;
    assert.ok(run.events.some((e) => e.event === 'ONLINE' && e.time >= mainsOnAt), 'ONLINE after the mains returned');

    for (const vmid of [...RESTART, SHED_ONLY]) {
      const g = guestOf(state, vmid);
      assert.equal(g.shutdownRequestedAt.length, 1, `shed guest ${vmid}: one shutdown`);
      assert.ok(g.shutdownRequestedAt[0]! >= mainsOffAt + 30_000, `shed guest ${vmid} shut down after the 30 s on battery`);
      assert.ok(g.stoppedAt[0]! < mainsOnAt, `shed guest ${vmid} was stopped before the mains returned`);
    }
    for (const vmid of RESTART) {
      const g = guestOf(state, vmid);
      assert.equal(g.startRequestedAt.length, 1, `guest ${vmid}: one start request`);
      const after = g.startRequestedAt[0]! - mainsOnAt;
      assert.ok(after >= RECOVERY_DELAY_MS, `guest ${vmid} started ${secs(after)} after the mains returned: before recovery.delay`);
      assert.ok(after <= RECOVERY_DELAY_MS + 15_000, `guest ${vmid} started ${secs(after)} after the mains returned: late`);
      assert.equal(g.status, 'running', `guest ${vmid} runs again`);
      const start = guestPosts(run.pveSim, vmid).filter((e) => e.path.endsWith('/status/start'));
      assert.deepEqual(start.map((e) => e.status), [200]);
    }
    assert.ok(run.chargeAtRecovery !== undefined && run.chargeAtRecovery >= MIN_CHARGE, `charge at recovery: ${run.chargeAtRecovery}`);
    const s203 = guestOf(state, SHED_ONLY);
    assert.deepEqual(s203.startRequestedAt, [], 'restart_on_power_return: false is not started');
    assert.equal(s203.status, 'stopped');
    assert.equal(run.outageOpen, false, 'the outage journal was closed by the recovery');
    assertNothingElseTouched(run, [...RESTART, SHED_ONLY]);
  });

  it('holds the restart while the battery is below min_charge', async () => {
    // 10.4–14.4 V: the charger's 13.6 V float on mains reads as 80 %, below a min_charge of 90.
    const run = await outageWithPowerReturn({
      battery: '    voltage: { nominal: 12.0, high: 14.4, low: 10.4 }',
      minCharge: 90,
      holdMs: 2 * RECOVERY_DELAY_MS + 10_000,
    });
    const { state } = run;
    assert.ok(run.events.some((e) => e.event === 'ONLINE' && e.time >= run.mainsOnAt), 'ONLINE after the mains returned');
    assert.ok(run.chargeAtEnd >= 75 && run.chargeAtEnd < 90, `the daemon reads ${run.chargeAtEnd} % on mains`);
    for (const vmid of RESTART) {
      assert.equal(guestOf(state, vmid).shutdownRequestedAt.length, 1, `shed guest ${vmid} was shut down`);
      assert.deepEqual(guestOf(state, vmid).startRequestedAt, [], `guest ${vmid} not started below min_charge`);
    }
    assert.equal(run.recoveredAt, undefined, 'no recovery');
    assert.equal(run.outageOpen, true, 'the outage stays open until the battery is charged');
    assertNothingElseTouched(run, [...RESTART, SHED_ONLY]);
  });
});
