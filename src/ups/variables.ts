import { VERSION } from '../core/version.js';
import type { BatteryReading, BatteryThresholds } from './battery.js';
import type { Identity, Q1Reading, Rating } from './megatec/parse.js';
import type { DerivedStatus } from './megatec/status.js';

export const DRIVER_NAME = 'pvepower';
export const DRIVER_VERSION = VERSION;

/**
 * printf's `%.<decimals>f`: like toFixed, except that an exact binary tie (2.5, 0.25) rounds to
 * even as C does (`%.0f` of 2.5 is `2`), where toFixed rounds it up.
 */
export function formatFixed(value: number, decimals: number): string {
  const rounded = value.toFixed(decimals);
  // toFixed(100) is the exact decimal expansion for every value that could be a tie here.
  const exact = Math.abs(value).toFixed(100);
  const keep = exact.indexOf('.') + (decimals > 0 ? decimals + 1 : 0);
  const tail = exact.slice(exact.indexOf('.') + 1 + decimals);
  const lastDigit = Number(rounded.at(-1));
  if (!/^50*$/.test(tail) || lastDigit % 2 === 0) return rounded;
  return (value < 0 ? '-' : '') + exact.slice(0, keep);
}

export interface DriverParameters {
  /** driver.parameter.port, as configured (`auto`, `/dev/ttyUSB0`). */
  port: string;
  pollIntervalMs: number;
  ignoresab: boolean;
}

/** What one good poll adds to the static variables. */
export interface PollValues {
  reading: Q1Reading;
  status: DerivedStatus;
  battery?: BatteryReading;
  /** battery.runtime (s). */
  runtimeS?: number;
}

export interface VariableSources {
  driver: DriverParameters;
  delays: { shutdownS: number; startS: number };
  rating?: Rating;
  identity?: Identity;
  battery: BatteryThresholds;
  /** The last good poll; absent before the first. */
  poll?: PollValues;
}

type Entry = readonly [name: string, value: string | undefined];

function fixed(value: number | undefined, decimals: number): string | undefined {
  return value === undefined ? undefined : formatFixed(value, decimals);
}

/** The NUT variables (names and formats as nutdrv_qx/upsc show them), sorted by name. */
export function nutVariables(src: VariableSources): Record<string, string> {
  const { driver, delays, rating, identity, battery, poll } = src;
  const reading = poll?.reading;
  const entries: Entry[] = [
    ['battery.charge', fixed(poll?.battery?.charge, 0)],
    ['battery.packs', poll?.battery?.packs === undefined ? undefined : String(poll.battery.packs)],
    ['battery.runtime', fixed(poll?.runtimeS, 0)],
    ['battery.voltage', fixed(poll?.battery?.voltage, 2)],
    ['battery.voltage.high', fixed(battery.high, 2)],
    ['battery.voltage.low', fixed(battery.low, 2)],
    ['battery.voltage.nominal', fixed(battery.nominal, 2)],
    ['device.mfr', identity?.manufacturer],
    ['device.model', identity?.model],
    ['device.type', 'ups'],
    ['driver.flag.ignoresab', driver.ignoresab ? 'enabled' : undefined],
    ['driver.name', DRIVER_NAME],
    ['driver.parameter.pollinterval', String(driver.pollIntervalMs / 1000)],
    ['driver.parameter.port', driver.port],
    ['driver.version', DRIVER_VERSION],
    ['input.current.nominal', fixed(rating?.inputCurrent, 1)],
    ['input.frequency', fixed(reading?.inputFrequency, 1)],
    ['input.frequency.nominal', fixed(rating?.inputFrequency, 0)],
    ['input.voltage', fixed(reading?.inputVoltage, 1)],
    ['input.voltage.fault', fixed(reading?.inputFaultVoltage, 1)],
    ['input.voltage.nominal', fixed(rating?.inputVoltage, 0)],
    ['output.voltage', fixed(reading?.outputVoltage, 1)],
    ['ups.alarm', poll?.status.alarm],
    ['ups.beeper.status', poll?.status.beeper],
    ['ups.delay.shutdown', String(delays.shutdownS)],
    ['ups.delay.start', String(delays.startS)],
    ['ups.firmware', identity?.firmware],
    ['ups.load', fixed(reading?.loadPercent, 0)],
    ['ups.status', poll?.status.status],
    ['ups.temperature', fixed(reading?.temperature, 1)],
    ['ups.type', poll?.status.upsType],
  ];
  const variables: Record<string, string> = {};
  for (const [name, value] of entries) if (value !== undefined) variables[name] = value;
  return variables;
}
