import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { processIo } from '../core/cli-io.js';
import { DEFAULT_CONFIG } from './defaults.js';
import type { UpsCliOptions } from './ups-commands.js';

type Action = (...args: any[]) => Promise<number>;
/** main.ts's wrapper that records an action's exit code. */
export type ActWrapper = (fn: Action) => (...args: any[]) => Promise<void>;

// The implementation (driver, transports, serialport, winston) loads when a UPS command runs.
const commands = () => import('./ups-commands.js');

/**
 * The host's config when --config is not given and it exists, so `pvepower status` on a
 * configured host reads its UPS; without one the flags and defaults are enough.
 */
function withDefaultConfig<T extends UpsCliOptions>(opts: T): T {
  return opts.config !== undefined || !existsSync(DEFAULT_CONFIG) ? opts : { ...opts, config: DEFAULT_CONFIG };
}

/** Adds `status`, `watch` and `cmd` to the program. */
export function registerUpsCommands(program: Command, act: ActWrapper): void {
  withUpsOptions(program.command('status'))
    .description('read the UPS once (F, I, Q1) and print its variables as upsc does')
    .option('--json', 'print one JSON object instead of key: value lines')
    .action(act(async (opts: UpsCliOptions & { json?: boolean }) => (await commands()).statusCommand(withDefaultConfig(opts), processIo)));

  withUpsOptions(program.command('watch'))
    .description('poll the UPS and print each NUT event (ONBATT, LOWBATT, COMMBAD, …) as a JSON line until SIGINT/SIGTERM')
    .action(act(async (opts: UpsCliOptions) => (await commands()).watchCommand(withDefaultConfig(opts), processIo)));

  withUpsOptions(program.command('cmd'))
    .description('run a NUT instant command on the UPS (shutdown.return, beeper.toggle, test.battery.start.quick, …)')
    .argument('[instcmd]', 'the instant command; --list shows them')
    .argument('[value]', 'test.battery.start only: the test duration in seconds')
    .option('--list', 'list the supported instant commands')
    .action(
      act(async (instcmd: string | undefined, value: string | undefined, opts: UpsCliOptions & { list?: boolean }) =>
        (await commands()).cmdCommand(instcmd, value, withDefaultConfig(opts), processIo),
      ),
    );
}

function withUpsOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', `take the ups: section from this config (default: ${DEFAULT_CONFIG} if it exists)`)
    .option('--port <auto|device>', 'auto (USB) or a serial device such as /dev/ttyUSB0; overrides the config')
    .option('--name <ups>', 'the UPS name in events and messages (default: the config\'s, else "ups")')
    .option('--pollinterval <duration>', 'time between Q1 polls, e.g. 1s or 500ms')
    .option('--battery-nominal <volts>', 'battery.voltage.nominal')
    .option('--battery-high <volts>', 'voltage of a full battery (charge 100 %)')
    .option('--battery-low <volts>', 'voltage of an empty battery (charge 0 %)')
    .option('-v, --verbose', 'log the driver\'s informational messages to stderr');
}

