// Shared pieces of the end-to-end tests: temp dirs, a recording stand-in for the host shutdown
// command, config files written as YAML text, the CLI as a child process, and readers of the
// PVE simulator's audit log and state dump.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../../src/sim/pve/audit.js';
import type { SimStateDump } from '../../src/sim/pve/cluster.js';
import type { PveSimulator } from '../../src/sim/pve/server.js';

export const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

export type SimGuestDump = SimStateDump['guests'][number];

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `pvepower-e2e-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Recorder {
  /** Absolute path of the script; use it as hosts.shutdown_command. */
  script: string;
  log: string;
  /** One entry per run of the script. */
  runs(): Array<{ wallNs: bigint; args: string; flag: string }>;
}

/**
 * A stand-in for the host shutdown command: it only appends one line per run to a log with the
 * wall time (ns), its arguments and the first bytes of the killpower flag (or MISSING).
 */
export function recordingShutdownScript(dir: string, flag: string): Recorder {
  const script = join(dir, 'record-host-shutdown');
  const log = join(dir, 'host-actions.log');
  writeFileSync(
    script,
    '#!/bin/sh\n' +
      '# Test stand-in for the host shutdown command: it records, nothing else.\n' +
      'now=$(date +%s%N)\n' +
      `if [ -f '${flag}' ]; then flag=$(head -c 64 '${flag}'); else flag=MISSING; fi\n` +
      `echo "ran wall_ns=$now flag=$flag args=$*" >> '${log}'\n`,
  );
  chmodSync(script, 0o755);
  return {
    script,
    log,
    runs: () => {
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const m = /^ran wall_ns=(\d+) flag=(.*?) args=(.*)$/.exec(line);
          if (!m) throw new Error(`unexpected recorder line: ${line}`);
          return { wallNs: BigInt(m[1]!), flag: m[2]!, args: m[3]! };
        });
    },
  };
}

/** Writes the API token secret the way the daemon expects it (0600). */
export function writeSecret(dir: string, secret: string): string {
  const file = join(dir, 'token');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return file;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JOURNAL_STREAM: '', ...env },
  });
}

/** Runs the CLI to completion; kills it (by its pid) after `timeoutMs`. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Polls `cond` every few ms of wall time; rejects after `timeoutMs` with `what`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function guestOf(state: SimStateDump, vmid: number): SimGuestDump {
  const g = state.guests.find((x) => x.vmid === vmid);
  if (!g) throw new Error(`no guest ${vmid} in the simulator`);
  return g;
}

export function nodeOf(state: SimStateDump, name: string): SimStateDump['nodes'][number] {
  const n = state.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in the simulator`);
  return n;
}

/** The audit entries of POSTs to a node's status (command=shutdown|reboot). */
export function nodePowerPosts(sim: PveSimulator, node: string): AuditEntry[] {
  return sim.audit.find('POST', `/nodes/${node}/status`);
}

/** Every audit entry that targets one guest (its power actions). */
export function guestPosts(sim: PveSimulator, vmid: number): AuditEntry[] {
  return sim.audit.entries().filter((e) => e.method === 'POST' && new RegExp(`^/nodes/[^/]+/(qemu|lxc)/${vmid}/`).test(e.path));
}

/** Simulated seconds, for readable assertion messages. */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The e2e cluster: 3 nodes (pve1 is this host), shed guests, three groups, an HA guest, one that ignores ACPI. */
export function outageScenario(): Record<string, unknown> {
  return {
    cluster: { name: 'e2e', version: '9.2.11', haLatencySeconds: 2, resourcesLagSeconds: 5 },
    nodes: [
      { name: 'pve1', local: true, cephMon: true, mac: 'bc:24:11:0e:00:01' },
      { name: 'pve2', cephMon: true, mac: 'bc:24:11:0e:00:02' },
      { name: 'pve3', mac: 'bc:24:11:0e:00:03' },
    ],
    guests: [
      { vmid: 201, node: 'pve2', name: 'web', status: 'running', tags: ['ups-shed'], agent: true, shutdownSeconds: 10 },
      { vmid: 202, type: 'lxc', node: 'pve3', name: 'media', status: 'running', tags: ['ups-shed'], shutdownSeconds: 5 },
      { vmid: 300, node: 'pve1', name: 'app', status: 'running', shutdownSeconds: 12 },
      { vmid: 301, node: 'pve2', name: 'win-desktop', status: 'running', ignoresAcpi: true, shutdownSeconds: 60 },
      { vmid: 302, type: 'lxc', node: 'pve3', name: 'cache', status: 'running', shutdownSeconds: 8 },
      { vmid: 100, node: 'pve1', name: 'dc', status: 'running', tags: ['critical'], agent: true, shutdownSeconds: 20 },
      { vmid: 104, node: 'pve3', name: 'monitoring', status: 'running', tags: ['critical'], ha: 'started', shutdownSeconds: 15 },
      { vmid: 107, type: 'lxc', node: 'pve2', name: 'dns', status: 'running', tags: ['critical'], shutdownSeconds: 8 },
      { vmid: 110, node: 'pve1', name: 'nas', status: 'running', tags: ['nas'], shutdownSeconds: 25 },
      { vmid: 120, node: 'pve3', name: 'old-test', status: 'stopped' },
      { vmid: 9000, node: 'pve2', name: 'template', template: true },
    ],
    users: [
      {
        userid: 'pvepower@pve',
        privileges: ['VM.Audit', 'VM.PowerMgmt', 'VM.Config.Disk', 'Sys.Audit', 'Sys.PowerMgmt', 'Sys.Modify', 'Sys.Console', 'Pool.Audit'],
        tokens: [{ id: 'ups', secret: '0e2e0e2e-1111-4222-8333-444455556666' }],
      },
    ],
  };
}

export function configYaml(opts: {
  sim: PveSimulator;
  secretFile: string;
  dir: string;
  shutdownCommand: string;
  upsPort?: string;
  extra?: string;
  recovery?: string;
  /** YAML of rules placed before the standard ones (the first matching rule wins). */
  firstRules?: string;
  /** YAML of the ups.battery section's body. */
  battery?: string;
}): string {
  return `# e2e test config
ups:
  name: e2e
  port: ${opts.upsPort ?? 'auto'}
  pollinterval: 1s
${opts.battery ? `  battery:\n${opts.battery}\n` : ''}proxmox:
  host: 127.0.0.1
  port: ${opts.sim.port}
  token_id: ${opts.sim.tokenId}
  token_secret_file: ${opts.secretFile}
  ca: ${opts.sim.caPath}
stages:
  shed:
    when: { on_battery_for: 30s }
  shutdown:
    when:
      any:
        - low_battery: true
        - on_battery_for: 30m
guests:
${opts.firstRules ?? ''}  - match: { tags: [ups-shed] }
    stage: shed
    timeout: 60s
    restart_on_power_return: true
  - match: { vmid: [110] }
    group: 3
    timeout: 3m
  - match: { tags: [critical] }
    group: 2
    timeout: 2m
  - match: {}
    group: 1
    timeout: 30s
    escalation: stop
hosts:
  shutdown_command: ${opts.shutdownCommand}
killpower:
  flag: ${join(opts.dir, 'killpower')}
recovery:
${opts.recovery ?? '  delay: 30s\n  min_charge: 50'}
state_dir: ${join(opts.dir, 'state')}
log:
  level: error
${opts.extra ?? ''}`;
}

/** Rejects after `ms` of wall time. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms (wall) waiting for ${what}`)), ms);
    }),
  ]);
}
