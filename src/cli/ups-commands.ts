/**
 * What `pvepower status`, `watch` and `cmd` do. ups.ts registers the commands and loads this
 * module only when one of them runs, so other commands do not pay for the driver and serialport.
 */
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from '../core/cli-io.js';
import { systemClock } from '../core/clock.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { plainLogger, type Logger } from '../core/logger.js';
import { Monitor } from '../monitor/monitor.js';
import { MonitorRunner } from '../monitor/runner.js';
import type { UpsEvent } from '../monitor/types.js';
import type { PvepowerConfig } from '../policy/schema.js';
import { REPLY_TIMEOUT_MS, UpsDriver, type DriverBatteryOptions } from '../ups/driver.js';
import { INSTCMDS, UpsCommandError, isInstcmd, type InstcmdName } from '../ups/instcmd.js';
import { commandText } from '../ups/megatec/commands.js';
import { createTransport, TransportError, type Transport, type TransportSpec } from '../ups/transport/index.js';
import type { PollSample } from '../ups/types.js';

/** Flags shared by status, watch and cmd, as commander hands them over (all text). */
export interface UpsCliOptions {
  config?: string;
  name?: string;
  port?: string;
  pollinterval?: string;
  batteryNominal?: string;
  batteryHigh?: string;
  batteryLow?: string;
  verbose?: boolean;
}

/** The connection and driver settings after merging the config's `ups:` section with the flags. */
export interface UpsSettings {
  name: string;
  transport: TransportSpec;
  pollIntervalMs?: number;
  battery: DriverBatteryOptions;
  offdelayS?: number;
  ondelayS?: number;
  ignoresab: boolean;
  deadtimeMs?: number;
}

/** NUT's MAXTRIES: a one-shot read gives the UPS this many chances to answer Q1. */
export const READ_TRIES = 3;

const DEFAULT_UPS_NAME = 'ups';
// The config schema's bounds for ups.pollinterval, applied to the flag as well.
const POLL_INTERVAL_MIN_MS = 200;
const POLL_INTERVAL_MAX_MS = 60_000;

/** `upscmd -l` descriptions (NUT's cmdvartab); a Record so a new instant command must get one. */
const INSTCMD_DESCRIPTIONS: Readonly<Record<InstcmdName, string>> = {
  'beeper.disable': 'Disable the UPS beeper',
  'beeper.enable': 'Enable the UPS beeper',
  'beeper.toggle': 'Toggle the UPS beeper',
  'load.off': 'Turn off the load immediately',
  'load.on': 'Turn on the load immediately',
  'shutdown.return': 'Turn off the load and return when power is back',
  'shutdown.stayoff': 'Turn off the load and remain off',
  'shutdown.stop': 'Stop a shutdown in progress',
  'test.battery.start': 'Start a battery test (value: duration in s, 60..5940, default 600)',
  'test.battery.start.deep': 'Start a deep battery test',
  'test.battery.start.quick': 'Start a quick battery test',
  'test.battery.stop': 'Stop the battery test',
};

/** Merges the config's `ups:` section (when --config is given) with the flags; usage errors exit 2. */
export async function resolveUpsSettings(opts: UpsCliOptions): Promise<UpsSettings> {
  let ups: PvepowerConfig['ups'] | undefined;
  if (opts.config !== undefined) {
    // Loaded on demand: the schema's zod and yaml add ~6 MiB to an idle `watch`.
    const { ConfigError, loadConfig } = await import('../policy/config.js');
    try {
      ups = loadConfig(opts.config).ups;
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
      throw err;
    }
    if (ups.driver !== 'megatec') {
      throw new CliError(`${opts.config}: ups.driver is ${ups.driver}; this command talks to a Megatec UPS directly (driver: megatec)`, EXIT_USAGE);
    }
  }

  if (opts.name !== undefined && !/^[A-Za-z0-9_.-]+$/.test(opts.name)) {
    throw new CliError(`--name: letters, digits, _ . and - only (a NUT UPS name), got ${JSON.stringify(opts.name)}`, EXIT_USAGE);
  }
  const port = opts.port ?? ups?.port ?? 'auto';
  if (port !== 'auto' && !port.startsWith('/')) {
    throw new CliError(`--port: expected auto (USB) or a device path such as /dev/ttyUSB0, got ${JSON.stringify(port)}`, EXIT_USAGE);
  }
  // A --port override also decides the kind of link: the config's USB selectors would otherwise
  // pick USB for a serial path (NUT selects USB whenever ids are given), and cablepower is serial-only.
  const keepUsb = port === 'auto';
  const transport: TransportSpec = {
    port,
    vendorId: keepUsb ? ups?.vendorid : undefined,
    productId: keepUsb ? ups?.productid : undefined,
    bus: keepUsb ? ups?.bus : undefined,
    serial: keepUsb ? ups?.serial : undefined,
    cablepower: keepUsb ? undefined : ups?.cablepower,
  };

  const configured = ups?.battery.voltage;
  const battery: DriverBatteryOptions = {
    nominal: volts('--battery-nominal', opts.batteryNominal) ?? configured?.nominal,
    high: volts('--battery-high', opts.batteryHigh) ?? configured?.high,
    low: volts('--battery-low', opts.batteryLow) ?? configured?.low,
    packs: ups?.battery.packs,
    runtimeFullLoadS: ups?.battery.runtime_full_load === undefined ? undefined : ups.battery.runtime_full_load / 1000,
  };
  if (battery.high !== undefined && battery.low !== undefined && battery.low >= battery.high) {
    throw new CliError(`battery low (${battery.low} V) must be below high (${battery.high} V)`, EXIT_USAGE);
  }

  return {
    name: opts.name ?? ups?.name ?? DEFAULT_UPS_NAME,
    transport,
    pollIntervalMs: pollInterval(opts.pollinterval) ?? ups?.pollinterval,
    battery,
    offdelayS: ups === undefined ? undefined : ups.delay.shutdown / 1000,
    ondelayS: ups === undefined ? undefined : ups.delay.start / 1000,
    ignoresab: ups?.ignoresab ?? false,
    deadtimeMs: ups?.deadtime,
  };
}

function volts(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new CliError(`${flag}: expected a voltage > 0, got ${JSON.stringify(text)}`, EXIT_USAGE);
  }
  return value;
}

function pollInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new CliError(`--pollinterval: ${(err as Error).message}`, EXIT_USAGE);
  }
  if (ms < POLL_INTERVAL_MIN_MS || ms > POLL_INTERVAL_MAX_MS) {
    const range = `${formatDuration(POLL_INTERVAL_MIN_MS)}..${formatDuration(POLL_INTERVAL_MAX_MS)}`;
    throw new CliError(`--pollinterval: must be within ${range}, got ${text}`, EXIT_USAGE);
  }
  return ms;
}

/** The transport and an unstarted driver on it; settings that could never work exit 2. */
function connect(settings: UpsSettings, logger: Logger): { transport: Transport; driver: UpsDriver } {
  let transport: Transport;
  let driver: UpsDriver;
  try {
    transport = createTransport(settings.transport, { logger });
    driver = new UpsDriver(transport, {
      name: settings.name,
      port: settings.transport.port,
      pollIntervalMs: settings.pollIntervalMs,
      battery: settings.battery,
      offdelay: settings.offdelayS,
      ondelay: settings.ondelayS,
      ignoresab: settings.ignoresab,
      logger,
    });
  } catch (err) {
    throw new CliError((err as Error).message, EXIT_USAGE);
  }
  return { transport, driver };
}

function cliLogger(opts: UpsCliOptions): Logger {
  return plainLogger({ level: opts.verbose ? 'info' : 'warn' });
}

/**
 * Opens the device and polls until one valid Q1 reply (the first poll also asks F and I), at
 * most READ_TRIES times. Exits 1 saying what was tried when the UPS does not answer.
 */
async function readUps(transport: Transport, driver: UpsDriver): Promise<PollSample> {
  try {
    await transport.open();
  } catch (err) {
    const why = err instanceof TransportError ? err.message : `${transport.description}: ${(err as Error).message}`;
    throw new CliError(`cannot open the UPS: ${why}`, EXIT_FAILURE);
  }
  let sample: PollSample | undefined;
  for (let attempt = 1; attempt <= READ_TRIES; attempt++) {
    sample = await driver.pollOnce();
    if (sample.ok) return sample;
  }
  throw new CliError(
    `no valid Q1 reply from ${transport.description} in ${READ_TRIES} tries ` +
      `(timeout ${formatDuration(REPLY_TIMEOUT_MS)}): ${sample?.error ?? 'no poll'}`,
    EXIT_FAILURE,
  );
}

/** `pvepower status`: one read, printed as upsc prints it (or as one JSON object). */
export async function statusCommand(opts: UpsCliOptions & { json?: boolean }, io: CliIo): Promise<number> {
  const settings = await resolveUpsSettings(opts);
  const { transport, driver } = connect(settings, cliLogger(opts));
  let sample: PollSample;
  try {
    sample = await readUps(transport, driver);
  } finally {
    await transport.close();
  }
  const names = Object.keys(sample.variables).sort();
  if (opts.json) {
    const object = Object.fromEntries(names.map((n) => [n, sample.variables[n]]));
    io.out(JSON.stringify(object, null, 2) + '\n');
  } else {
    io.out(names.map((n) => `${n}: ${sample.variables[n]}\n`).join(''));
  }
  return EXIT_OK;
}

/** One `watch` output line. */
export function eventLine(e: UpsEvent): string {
  return (
    JSON.stringify({ time: new Date(e.time).toISOString(), ups: e.ups, event: e.event, status: e.status, message: e.message }) +
    '\n'
  );
}

/** Resolves with the signal's name at the first SIGINT or SIGTERM, then stops listening. */
function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** `pvepower watch`: driver + monitor; each NUT event as a JSON line, until SIGINT/SIGTERM. */
export async function watchCommand(opts: UpsCliOptions, io: CliIo): Promise<number> {
  const settings = await resolveUpsSettings(opts);
  const logger = cliLogger(opts);
  const { driver } = connect(settings, logger);
  const monitor = new Monitor({ ups: settings.name, deadtimeMs: settings.deadtimeMs });
  const runner = new MonitorRunner({ source: driver, monitor, clock: systemClock });
  // Listen before the first poll, so a signal during a slow start still ends the command cleanly.
  const stopped = nextStopSignal();
  runner.on('event', (e) => io.out(eventLine(e)));
  runner.start();
  // Not awaited: an unreachable UPS is retried on every poll (upsmon reports COMMBAD), and
  // stop() may interrupt the first poll.
  const started = driver.start();
  const signal = await stopped;
  logger.info(`${settings.name}: ${signal}: stopping`);
  runner.stop();
  await driver.stop();
  await started;
  return EXIT_OK;
}

/** `pvepower cmd`: one instant command, after a read that proves the UPS answers. */
export async function cmdCommand(
  instcmd: string | undefined,
  value: string | undefined,
  opts: UpsCliOptions & { list?: boolean },
  io: CliIo,
): Promise<number> {
  if (opts.list) {
    io.out(INSTCMDS.map((name) => `${name} - ${INSTCMD_DESCRIPTIONS[name]}\n`).join(''));
    return EXIT_OK;
  }
  const supported = `supported: ${INSTCMDS.join(', ')}`;
  if (instcmd === undefined) throw new CliError(`cmd: name an instant command (--list shows them); ${supported}`, EXIT_USAGE);
  if (!isInstcmd(instcmd)) throw new CliError(`cmd: unknown instant command '${instcmd}'; ${supported}`, EXIT_USAGE);
  if (value !== undefined && instcmd !== 'test.battery.start') {
    throw new CliError(`cmd: ${instcmd} takes no value (got ${JSON.stringify(value)})`, EXIT_USAGE);
  }

  const settings = await resolveUpsSettings(opts);
  const { transport, driver } = connect(settings, cliLogger(opts));
  let wire: string | undefined;
  try {
    // A Megatec UPS never acknowledges a command, so silence would pass for success: make sure
    // something answers on this port first.
    await readUps(transport, driver);
    wire = await driver.instcmd(instcmd, value);
  } catch (err) {
    if (err instanceof UpsCommandError) {
      throw new CliError(err.message, err.code === 'failed' ? EXIT_FAILURE : EXIT_USAGE);
    }
    throw err;
  } finally {
    await transport.close();
  }
  io.out(wire === undefined ? `${instcmd}: nothing to send, the beeper already is in that state\n` : `${instcmd}: sent ${commandText(wire)}\n`);
  return EXIT_OK;
}
