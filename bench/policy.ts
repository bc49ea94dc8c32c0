import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ScaledClock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/logger.js';
import { planFor } from '../src/daemon/cluster-plan.js';
import { Executor } from '../src/executor/executor.js';
import { Journal } from '../src/executor/journal.js';
import type { HostActions } from '../src/host/host.js';
import { parseConfig } from '../src/policy/config.js';
import { buildPlan } from '../src/policy/plan.js';
import { PveClient } from '../src/pve/client.js';
import type { Guest, NodeInfo } from '../src/pve/types.js';
import { startPveSimulator } from '../src/sim/pve/server.js';
import { intFlag, spread, type Bench, type BenchRow } from './harness.js';

const PLAN_TARGET_MS = 200;
const OVERHEAD_TARGET_MS = 2000;
const GROUPS = 5;

/** A config whose rules put tagged guests into the five shutdown groups, with a shed rule. */
function benchConfig(): ReturnType<typeof parseConfig> {
  const rules = Array.from({ length: GROUPS }, (_, i) => `  - match: { tags: [g${i + 1}] }\n    stage: drain\n    group: ${i + 1}\n    timeout: 2m\n`).join('');
  return parseConfig(
    `ups: { port: /dev/ttyUSB0 }\n` +
      `proxmox: { token_id: "pvepower@pve!ups", ca: /etc/pve/pve-root-ca.pem }\n` +
      `stages:\n  drain: { when: { manual: true } }\n  shutdown: { when: { low_battery: true } }\n` +
      `hosts: { per_node_limit: 64 }\n` +
      `guests:\n  - match: { name: ["shed-*"] }\n    stage: drain\n    timeout: 1m\n${rules}`,
    'bench.yaml',
  );
}

/** Deterministic pseudo-random numbers, so every run plans and shuts down the same cluster. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function syntheticCluster(nodes: number, guests: number): { guests: Guest[]; nodes: NodeInfo[] } {
  const rand = prng(42);
  const nodeInfo = Array.from({ length: nodes }, (_, i) => ({ node: `pve${i + 1}`, online: true, cephMon: i < 3, local: i === 0 }));
  const list: Guest[] = Array.from({ length: guests }, (_, i) => {
    const kind = rand();
    return {
      node: nodeInfo[i % nodes]!.node,
      type: kind < 0.3 ? 'lxc' : 'qemu',
      vmid: 100 + i,
      name: kind < 0.1 ? `shed-${i}` : `guest-${i}`,
      status: rand() < 0.9 ? 'running' : 'stopped',
      tags: rand() < 0.7 ? [`g${1 + Math.floor(rand() * GROUPS)}`] : [],
      template: rand() < 0.02,
      ...(rand() < 0.5 ? { startup: { order: Math.floor(rand() * 5), down: 60 + Math.floor(rand() * 120) } } : {}),
    };
  });
  return { guests: list, nodes: nodeInfo };
}

async function planBench(values: Record<string, unknown>, log: (l: string) => void): Promise<BenchRow[]> {
  const runs = intFlag(values as never, 'plan-runs', 1);
  const config = benchConfig();
  const cluster = syntheticCluster(64, 10_000);
  const samples: number[] = [];
  let guestsPlanned = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const plan = buildPlan(config, { ...cluster, self: 'pve1', runtimeMs: 600_000 });
    samples.push(performance.now() - t);
    guestsPlanned = plan.stages.reduce((n, s) => n + s.groups.reduce((m, g) => m + g.guests.length, 0), 0);
  }
  const s = spread(samples);
  log(`plan: ${guestsPlanned} guests planned per run, ${runs} runs`);
  return [
    {
      metric: 'plan 64 nodes × 10,000 guests (min/median/max)',
      value: `${s.min.toFixed(1)}/${s.median.toFixed(1)}/${s.max.toFixed(1)} ms`,
      target: `median ≤ ${PLAN_TARGET_MS} ms`,
      verdict: s.median <= PLAN_TARGET_MS ? 'PASS' : 'FAIL',
    },
  ];
}

/** Host actions that must never run in the orchestration bench (it runs a non-final stage). */
const noHost: HostActions = {
  writeKillpowerFlag: async () => {
    throw new Error('bench: no host actions');
  },
  removeStaleKillpowerFlag: async () => false,
  killpowerFlagSet: async () => false,
  runShutdownCommand: async () => {
    throw new Error('bench: no host actions');
  },
  notify: async () => undefined,
  bootId: async () => undefined,
};

async function orchestrationBench(values: Record<string, unknown>, log: (l: string) => void): Promise<BenchRow[]> {
  const perNode = intFlag(values as never, 'guests-per-node', 1);
  const rand = prng(7);
  const guests = Array.from({ length: 3 * perNode }, (_, i) => ({
    vmid: 1000 + i,
    type: (i % 4 === 0 ? 'lxc' : 'qemu') as 'lxc' | 'qemu',
    node: `pve${1 + (i % 3)}`,
    name: `guest-${i}`,
    status: 'running' as const,
    tags: [`g${1 + (Math.floor(i / 3) % GROUPS)}`],
    shutdownSeconds: 1 + Math.round(rand() * 5),
  }));
  const sim = await startPveSimulator({
    scenario: {
      cluster: { name: 'bench', version: '9.2.11' },
      nodes: [
        { name: 'pve1', local: true },
        { name: 'pve2' },
        { name: 'pve3' },
      ],
      guests,
    } as never,
  });
  const dir = mkdtempSync(join(tmpdir(), 'pvepower-bench-'));
  const secretFile = join(dir, 'token');
  writeFileSync(secretFile, sim.tokenSecret, { mode: 0o600 });
  const clock = new ScaledClock(1);
  const pve = new PveClient({ host: '127.0.0.1', port: sim.port, tokenId: sim.tokenId, tokenSecretFile: secretFile, ca: sim.caPath, clock });
  try {
    const config = benchConfig();
    const cluster = { guests: await pve.guests(), nodes: (await pve.clusterStatus()).nodes, quorate: true, self: 'pve1' };
    const plan = planFor(config, cluster);
    const stage = plan.stages.find((s) => s.name === 'drain')!;
    // The critical path: each group waits for its slowest guest's own shutdown time.
    const shutdownMs = new Map(guests.map((g) => [g.vmid, g.shutdownSeconds * 1000]));
    const criticalMs = stage.groups.reduce((sum, g) => sum + Math.max(...g.guests.map((p) => shutdownMs.get(p.vmid)!)), 0);
    const journal = Journal.open({ dir: join(dir, 'state'), clock });
    const executor = new Executor({
      pve,
      host: noHost,
      journal,
      clock,
      logger: silentLogger(),
      self: 'pve1',
      perNodeLimit: config.hosts.per_node_limit,
      haMode: 'stop-states',
      ceph: { enabled: false, flags: [] },
      nodeShutdown: false,
    });
    log(`orchestration: ${guests.length} guests on 3 nodes in ${stage.groups.length} groups; critical path ${(criticalMs / 1000).toFixed(1)} s`);
    const t = performance.now();
    const result = await executor.runStage(stage, plan);
    const wallMs = performance.now() - t;
    const stopped = result.guests.filter((g) => g.outcome === 'stopped').length;
    const overheadMs = wallMs - criticalMs;
    return [
      {
        metric: `orchestration overhead, 3 × ${perNode} guests, ${GROUPS} groups (wall − critical path)`,
        value: `${(overheadMs / 1000).toFixed(2)} s (wall ${(wallMs / 1000).toFixed(1)} s, ${stopped}/${guests.length} stopped)`,
        target: `≤ ${OVERHEAD_TARGET_MS / 1000} s`,
        verdict: overheadMs <= OVERHEAD_TARGET_MS && stopped === guests.length ? 'PASS' : 'FAIL',
      },
    ];
  } finally {
    await pve.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const planBenchDef: Bench = {
  name: 'plan',
  description: 'policy: plan computation for 64 nodes × 10,000 guests',
  options: { 'plan-runs': { type: 'string', default: '20', description: 'plan computations to time' } },
  run: ({ values, log }) => planBench(values, log),
};

export const orchestrationBenchDef: Bench = {
  name: 'orchestration',
  description: 'executor: wall time minus critical path, 3 nodes × 100 guests in 5 groups on the PVE simulator',
  options: { 'guests-per-node': { type: 'string', default: '100', description: 'guests per node' } },
  run: ({ values, log }) => orchestrationBench(values, log),
};
