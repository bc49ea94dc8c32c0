import { parseDuration } from '../../core/duration.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, numberOption } from '../../core/cli-io.js';
import { formatLogEntry, type LogEntry } from './log.js';
import { DEFAULT_LOAD_PERCENT, runtimeAtFullLoadFor } from './model.js';
import { startUpsSimulator } from './server.js';

/** `pvepower sim ups` flags, as commander hands them over (numbers may still be strings). */
export interface UpsSimCommandOptions {
  /** Serve the UPS on a pseudo-terminal (required: it is the only wire this command offers). */
  pty?: boolean;
  /** Control socket path (default: a fresh one in the temp directory). */
  control?: string;
  /** Time scale: 10 runs the UPS's delays and battery 10× faster. */
  timeScale?: string | number;
  /** How long a full battery lasts at the starting load, e.g. `10m`. */
  runtime?: string;
  /** Starting load (%), default 28. */
  load?: string | number;
  /** Starting charge (%), default 100. */
  charge?: string | number;
  /** Echo `I` like the seed's unit instead of answering it. */
  echoIdent?: boolean;
}

/**
 * Runs the simulator until SIGINT/SIGTERM (or `stop` aborts): prints one JSON line
 * `{"pty":…,"control":…}` to stdout, then the simulator's events to stderr. Returns the exit code.
 */
export async function runUpsSimCommand(options: UpsSimCommandOptions, io: CliIo, stop?: AbortSignal): Promise<number> {
  if (!options.pty) throw new CliError('pvepower sim ups serves the UPS on a pseudo-terminal; pass --pty', EXIT_USAGE);
  const scale = numberOption('--time-scale', options.timeScale, 1, (v) => v > 0);
  const load = numberOption('--load', options.load, DEFAULT_LOAD_PERCENT, (v) => v >= 0 && v <= 100);
  const charge = numberOption('--charge', options.charge, 100, (v) => v >= 0 && v <= 100);
  let runtimeAtFullLoadS: number | undefined;
  if (options.runtime !== undefined) {
    try {
      runtimeAtFullLoadS = runtimeAtFullLoadFor(parseDuration(options.runtime) / 1000, load);
    } catch (err) {
      throw new CliError(`--runtime: ${(err as Error).message}`, EXIT_USAGE);
    }
  }

  const sim = await startUpsSimulator({
    pty: true,
    controlSocket: options.control,
    scale,
    loadPercent: load,
    chargePercent: charge,
    runtimeAtFullLoadS,
    echoIdent: options.echoIdent,
  });
  const onEntry = (e: LogEntry) => {
    if (e.kind === 'EV') io.err(formatLogEntry(e) + '\n');
  };
  sim.model.log.on('entry', onEntry);
  io.out(JSON.stringify({ pty: sim.ptyPath, control: sim.controlPath }) + '\n');

  const ended = await new Promise<'stopped' | 'relay-died'>((resolve) => {
    const finish = (why: 'stopped' | 'relay-died') => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onSignal = () => finish('stopped');
    const onAbort = () => finish('stopped');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (stop?.aborted) return finish('stopped');
    stop?.addEventListener('abort', onAbort, { once: true });
    sim.pty?.once('exit', () => finish('relay-died'));
  });
  sim.model.log.off('entry', onEntry);
  await sim.close();
  if (ended === 'relay-died') {
    io.err('pvepower sim ups: the pseudo-terminal relay exited unexpectedly\n');
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
