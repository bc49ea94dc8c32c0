import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from '../core/cli-io.js';
import { EXIT_FAILURE, EXIT_OK } from '../core/cli-io.js';
import { ScaledClock, type Clock } from '../core/clock.js';
import { formatDuration } from '../core/duration.js';
import { createLogger } from '../core/logger.js';
import { registerSecret } from '../core/secrets.js';
import { Daemon } from '../daemon/daemon.js';
import type { TimelineEntry } from '../daemon/timeline.js';
import { sendUpsShutdown } from '../daemon/ups.js';
import { SystemHost } from '../host/host.js';
import { formatPlanTable, formatTrigger } from '../policy/format.js';
import type { PvepowerConfig } from '../policy/schema.js';
import type { Plan } from '../policy/types.js';
import { PveClient } from '../pve/client.js';
import type { SimStateDump } from '../sim/pve/cluster.js';
import { startPveSimulator } from '../sim/pve/server.js';
import { createUpsSim } from '../sim/ups/simulator.js';


/**
 * `pvepower drill` without --sim: the timeline the plan would execute against the live cluster,
 * computed from GETs only (the client is read-only: it refuses POST/PUT/DELETE before sending).
 */
export function dryRunTimeline(config: PvepowerConfig, plan: Plan): string {
  const lines = [formatPlanTable(plan).trimEnd(), '', 'Timeline on power failure (dry run: nothing was sent):'];
  let step = 1;
  const say = (text: string) => lines.push(`  ${step++}. ${text}`);
  for (const stage of plan.stages) {
    const guests = stage.groups.reduce((n, g) => n + g.guests.length, 0);
    say(
      `when ${formatTrigger(config.stages[stage.name]!.when)}: stage ${stage.name} stops ${guests} guest${guests === 1 ? '' : 's'} ` +
        `in ${stage.groups.length} group${stage.groups.length === 1 ? '' : 's'} (about ${formatDuration(stage.estimatedMs)})`,
    );
  }
  const others = plan.hosts.filter((h) => !h.self);
  if (config.ceph.enabled !== false) say(`Ceph (if present): set ${config.ceph.flags.join(', ')}`);
  say(`HA: ${config.ha.mode === 'stop-states' ? 'HA guests stopped through HA, states restored on recovery' : 'HA guests stopped through HA; disarm-ha before the node shutdowns on PVE >= 9.2'}`);
  if (others.length > 0 && config.hosts.node_shutdown.enabled) say(`node shutdown sent to ${others.map((h) => h.node).join(', ')}`);
  if (config.killpower.enabled) say(`killpower flag ${config.killpower.flag} written`);
  say(`this host (${plan.self}) runs: ${config.hosts.shutdown_command}`);
  if (config.killpower.enabled) {
    say(`late in the poweroff: the UPS gets shutdown.return (off after ${formatDuration(config.ups.delay.shutdown)}, back ${formatDuration(config.ups.delay.start)} after mains returns)`);
  }
  if (plan.warnings.length > 0) lines.push('', ...plan.warnings.map((w) => `warning: ${w}`));
  return lines.join('\n') + '\n';
}

export interface SimDrillOptions {
  /** Simulated seconds per wall second. */
  timeScale: number;
  scenario: string;
  /** Keep the temp dir (journal, host action log) for inspection. */
  keep?: boolean;
  /** Log level of the daemon's own log on stderr. */
  logLevel?: string;
}

/** A shutdown command for drills: records its arguments and whether the killpower flag was there. */
function recordingShutdownScript(dir: string, flag: string): string {
  const script = join(dir, 'host-shutdown');
  writeFileSync(
    script,
    `#!/bin/sh\n# Stands in for the host shutdown command in a drill: it only records.\n` +
      `{ echo "host shutdown command ran\${*:+: $*}"; if [ -f '${flag}' ]; then echo "killpower flag present: $(head -c 64 '${flag}')"; else echo "killpower flag MISSING"; fi; } >> '${dir}/host-actions.log'\n`,
  );
  chmodSync(script, 0o755);
  return script;
}

/**
 * `pvepower drill --sim`: a whole outage on the built-in simulators, in scaled time — mains fails,
 * the shed stage runs, the battery runs low, the shutdown groups run (with an escalation), the
 * other nodes get their shutdown, then the killpower flag and this host's shutdown command (a
 * recording script), and finally the UPS shutdown command late in the poweroff.
 */
export async function simDrill(config: PvepowerConfig, opts: SimDrillOptions, io: CliIo): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pvepower-drill-'));
  const clock = new ScaledClock(opts.timeScale);
  const logger = createLogger({ level: opts.logLevel ?? 'error' });
  const pveSim = await startPveSimulator({ scenario: opts.scenario, clock });
  const ups = createUpsSim({ clock });
  const secretFile = join(dir, 'token');
  writeFileSync(secretFile, pveSim.tokenSecret + '\n', { mode: 0o600 });
  registerSecret(pveSim.tokenSecret);
  const flag = join(dir, 'killpower');
  const drillConfig: PvepowerConfig = {
    ...config,
    proxmox: {
      ...config.proxmox,
      host: '127.0.0.1',
      port: pveSim.port,
      token_id: pveSim.tokenId,
      token_secret_file: secretFile,
      ca: pveSim.caPath,
      fingerprint: undefined,
      self: undefined,
    },
    state_dir: join(dir, 'state'),
    killpower: { ...config.killpower, flag },
    hosts: { ...config.hosts, shutdown_command: recordingShutdownScript(dir, flag) },
  };
  const pve = new PveClient({
    host: '127.0.0.1',
    port: pveSim.port,
    tokenId: pveSim.tokenId,
    tokenSecretFile: secretFile,
    ca: pveSim.caPath,
    clock,
    logger,
  });
  const host = new SystemHost({ killpowerFlagPath: flag, shutdownCommand: drillConfig.hosts.shutdown_command, wallCommand: '', logger });
  const daemon = new Daemon({ config: drillConfig, transport: ups.transport(), pve, host, logger, clock });
  const t0 = clock.now();
  const print = (e: TimelineEntry) => io.out(`${clockText(e.time - t0)}  ${e.kind.padEnd(8)} ${e.text}\n`);
  daemon.on('timeline', print);

  io.out(`pvepower drill on the built-in simulators: a ${pveSim.state().nodes.length}-node cluster and a Megatec UPS, time ×${opts.timeScale}\n`);
  let code = EXIT_OK;
  try {
    await daemon.start();
    const wentDown = new Promise<void>((resolve) => daemon.on('idle', (e) => e.reason === 'host-shutdown' && resolve()));
    await clock.sleep(3000);
    print({ time: clock.now(), kind: 'drill', text: 'mains power fails' });
    ups.model.setMains(false);
    await untilStageDone(daemon, firstNonFinalStage(drillConfig), clock);
    print({ time: clock.now(), kind: 'drill', text: 'the battery runs low' });
    ups.model.setLowBatteryMode('on');
    await wentDown;
    await daemon.stop();
    // What the late-poweroff hook does once the host is down: the UPS command.
    const sent = await sendUpsShutdown(drillConfig.ups, ups.transport(), { clock, logger });
    print({ time: clock.now(), kind: 'ups', text: `late in the poweroff the UPS got: ${sent.map((c) => JSON.stringify(c)).join(', ')}` });
    await untilUpsEvent(ups.model.log, /OUTPUT_OFF/, clock);
    print({ time: clock.now(), kind: 'ups', text: 'UPS output off: the cluster is powered down; it restores the output after mains returns' });
    io.out('\n' + summary(dir, pveSim.state()));
  } catch (err) {
    io.err(`pvepower drill: ${(err as Error).message}\n`);
    code = EXIT_FAILURE;
  } finally {
    await daemon.stop().catch(() => undefined);
    await pve.close();
    await pveSim.close();
    ups.dispose();
    if (opts.keep) io.out(`drill files kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

function firstNonFinalStage(config: PvepowerConfig): string | undefined {
  return Object.entries(config.stages).find(([, s]) => !s.final)?.[0];
}

/** Waits until the named stage finished (or, with no such stage, a moment for the UPS to settle). */
function untilStageDone(daemon: Daemon, stage: string | undefined, clock: Clock): Promise<void> {
  if (!stage) return clock.sleep(5000);
  return new Promise((resolve) => {
    const onDone = (r: { stage: string }) => {
      if (r.stage !== stage) return;
      daemon.executor.off('stage-done', onDone);
      resolve();
    };
    daemon.executor.on('stage-done', onDone);
  });
}

async function untilUpsEvent(log: { entries(): { kind: string; text: string }[] }, pattern: RegExp, clock: Clock): Promise<void> {
  while (!log.entries().some((e) => e.kind === 'EV' && pattern.test(e.text))) await clock.sleep(1000);
}

function summary(dir: string, state: SimStateDump): string {
  const actions = join(dir, 'host-actions.log');
  const hostLog = existsSync(actions) ? readFileSync(actions, 'utf8') : 'the host shutdown command did not run\n';
  const downNodes = state.nodes.filter((n) => n.shutdownRequestedAt.length > 0).map((n) => n.name);
  const stopped = state.guests.filter((g) => g.stoppedAt.length > 0).length;
  const stillRunning = state.guests.filter((g) => g.status === 'running').map((g) => g.vmid);
  return (
    `Summary\n  guests stopped: ${stopped}${stillRunning.length ? `; still running: ${stillRunning.join(', ')}` : ''}\n` +
    `  nodes sent a shutdown through the API: ${downNodes.join(', ') || 'none'}\n  ${hostLog.trimEnd().split('\n').join('\n  ')}\n`
  );
}

function clockText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `+${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

