import { Command, CommanderError } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_USAGE, numberOption, processIo } from '../core/cli-io.js';
import { redact } from '../core/secrets.js';
import { VERSION } from '../core/version.js';
import { registerUpsCommands } from './ups.js';
import { DEFAULT_CONFIG, DEFAULT_DRILL_SCENARIO, PVE_FLAG_HELP } from './defaults.js';
import type { PveFlags } from './connect.js';
import type { PveClient } from '../pve/client.js';

// Each command loads its code when it runs, so `pvepower watch` does not carry the Proxmox
// client, the executor and the simulators in memory.
const connect = () => import('./connect.js');
const logger = async () => (await import('../core/logger.js')).createLogger({ level: 'warn' });

type Action = (...args: any[]) => Promise<number>;

/**
 * Builds the `pvepower` command tree. Commander discards what actions return, so each action is
 * wrapped to record its exit code for main().
 */
export function buildProgram(): { program: Command; exitCode: () => number } {
  let code = 0;
  const act =
    (fn: Action) =>
    async (...args: unknown[]) => {
      code = await fn(...args);
    };
  const program = new Command('pvepower')
    .description('UPS power-failure orchestration for Proxmox VE clusters')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('scan')
    .description('find UPSes (USB ids from NUT\'s Megatec/Q* table, serial ports) and print a ready ups: config block')
    .action(act(async () => (await import('./scan.js')).scanCommand(processIo)));

  registerUpsCommands(program, act);

  const withPveFlags = (cmd: Command) => {
    for (const [flag, help] of PVE_FLAG_HELP) cmd.option(flag, help);
    return cmd;
  };
  /** Runs `fn` with a Proxmox client and always closes it, so the process exits at once. */
  const withPve = async (flags: PveFlags, fn: (pve: PveClient) => Promise<number>, readOnly = false) => {
    const pve = (await connect()).connectPve(flags, { readOnly });
    try {
      return await fn(pve);
    } finally {
      await pve.close();
    }
  };

  program
    .command('run')
    .description('the daemon: UPS driver, monitor, policy and executor (SIGHUP reloads the config)')
    .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
    .action(act(async (opts: { config: string }) => (await import('./run.js')).runCommand(opts.config)));

  program
    .command('check-config')
    .description('validate a config file: every error as FILE:LINE:COL key: message (exit 2)')
    .argument('[file]', 'config file', DEFAULT_CONFIG)
    .action(act(async (file: string) => (await import('./policy.js')).checkConfigCommand(file, processIo)));

  withPveFlags(
    program
      .command('guests')
      .description("the cluster's guests as pvepower sees them (node, vmid, type, name, status, tags, HA state)")
      .option('-c, --config <file>', 'take the proxmox: section from this config', DEFAULT_CONFIG)
      .option('--json', 'print JSON'),
  ).action(
    act(async (opts: PveFlags & { json?: boolean }) => {
      const { guestsCommand } = await import('./guests.js');
      return withPve(opts, (pve) => guestsCommand(pve, opts, processIo), true);
    }),
  );

  withPveFlags(
    program
      .command('plan')
      .description('the shutdown plan for the live cluster: stages, groups, guests, estimates, host order')
      .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
      .option('--json', 'print JSON')
      .option('--runtime <duration>', 'check the plan against this battery runtime, e.g. 12m'),
  ).action(
    act(async (opts: PveFlags & { config: string; json?: boolean; runtime?: string }) => {
      const config = (await connect()).loadConfigOrExit(opts.config);
      const { planCommand } = await import('./policy.js');
      const log = await logger();
      return withPve(opts, (pve) => planCommand(config, pve, opts, processIo, log), true);
    }),
  );

  withPveFlags(
    program
      .command('drill')
      .description('rehearse an outage: a dry run against the live cluster (no POST/PUT/DELETE), or --sim end to end')
      .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
      .option('--sim', 'run a whole outage on the built-in UPS and Proxmox VE simulators')
      .option('--scenario <file>', 'simulated cluster for --sim', DEFAULT_DRILL_SCENARIO)
      .option('--time-scale <x>', 'simulated seconds per second for --sim', '30')
      .option('--keep', 'keep the --sim drill files (journal, host action log)')
      .option('--runtime <duration>', 'dry run: check the plan against this battery runtime'),
  ).action(
    act(async (opts: PveFlags & { config: string; sim?: boolean; scenario: string; timeScale: string; keep?: boolean; runtime?: string }) => {
      const config = (await connect()).loadConfigOrExit(opts.config);
      const { dryRunTimeline, simDrill } = await import('./drill.js');
      const { livePlan, parseRuntimeFlag } = await import('./policy.js');
      if (opts.sim) {
        const timeScale = numberOption('--time-scale', opts.timeScale, 30, (v) => v > 0);
        return simDrill(config, { timeScale, scenario: opts.scenario, ...(opts.keep ? { keep: true } : {}) }, processIo);
      }
      const runtimeMs = parseRuntimeFlag(opts.runtime);
      return withPve(
        opts,
        async (pve) => {
          processIo.out(dryRunTimeline(config, await livePlan(config, pve, await logger(), runtimeMs)));
          return 0;
        },
        true,
      );
    }),
  );

  program
    .command('trigger')
    .description('fire a stage of the running daemon now (e.g. a planned maintenance shutdown)')
    .argument('<stage>', 'stage name from the config')
    .option('-c, --config <file>', 'config file (for state_dir)', DEFAULT_CONFIG)
    .action(act(async (stage: string, opts: { config: string }) => (await import('./run.js')).triggerCommand(opts.config, stage, processIo)));

  program
    .command('killpower')
    .description('tell the UPS to cut its output after ups.delay.shutdown (late-poweroff hook); needs the killpower flag')
    .option('-c, --config <file>', 'config file', DEFAULT_CONFIG)
    .option('--force', 'send even without the killpower flag')
    .option('--stayoff', 'shutdown.stayoff: the output stays off when mains returns')
    .action(
      act(async (opts: { config: string; force?: boolean; stayoff?: boolean }) => (await import('./run.js')).killpowerCommand(opts.config, opts, processIo)),
    );

  const sim = program.command('sim').description('run a built-in simulator');
  sim
    .command('ups')
    .description('a Megatec UPS on a real pseudo-terminal, driven through a JSON control socket')
    .option('--pty', 'serve the UPS on a pseudo-terminal (prints its path)')
    .option('--control <path>', 'control socket path')
    .option('--time-scale <x>', 'run delays and the battery X times faster', '1')
    .option('--runtime <duration>', 'how long a full battery lasts at the starting load, e.g. 10m')
    .option('--load <percent>', 'starting load in percent')
    .option('--charge <percent>', 'starting battery charge in percent')
    .option('--echo-ident', 'echo the I command like the seed guide\'s Ippon')
    .action(act(async (opts) => (await import('../sim/ups/cli.js')).runUpsSimCommand(opts, processIo)));
  sim
    .command('pve')
    .description('a Proxmox VE cluster over HTTPS on loopback, from a scenario file')
    .requiredOption('--scenario <file>', 'cluster scenario (YAML or JSON), e.g. config/sim-cluster.yaml')
    .option('--port <n>', 'listening port (0: any free port)', '8006')
    .option('--host <address>', 'listening address', '127.0.0.1')
    .option('--time-scale <x>', 'simulated seconds per second', '1')
    .option('--apidata <file>', 'official API schema to validate parameters against')
    .action(act(async (opts) => (await import('../sim/pve/cli.js')).runPveSimCommand(opts, processIo)));

  return { program, exitCode: () => code };
}

/** Runs the CLI and sets process.exitCode: 0 ok, 1 runtime failure, 2 usage or config error. */
export async function main(argv: string[]): Promise<number> {
  const { program, exitCode } = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode();
  } catch (err) {
    return exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end through exitOverride too, with exit code 0.
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (err instanceof CliError) {
    processIo.err(`pvepower: ${redact(err.message)}\n`);
    return err.exitCode;
  }
  processIo.err(`pvepower: ${redact(err instanceof Error ? err.message : String(err))}\n`);
  return EXIT_FAILURE;
}


// Entry point when run as the program (bin/pvepower imports dist/cli/main.js).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/bin/pvepower')) {
  process.exitCode = await main(process.argv.slice(2));
}
