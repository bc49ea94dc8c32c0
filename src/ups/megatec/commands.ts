/**
 * Megatec commands as they go on the wire (CR included), with NUT's delay encoding and rounding
 * (blazer_process_command / blazer_process_setvar, nut.md §2).
 */

export const QUERY_STATUS = 'Q1\r';
export const QUERY_RATING = 'F\r';
export const QUERY_IDENTITY = 'I\r';
export const BEEPER_TOGGLE = 'Q\r';
/** 10-second battery test. */
export const TEST_QUICK = 'T\r';
/** Battery test until the battery is low. */
export const TEST_DEEP = 'TL\r';
export const TEST_CANCEL = 'CT\r';
/** Cancels a pending shutdown, or turns the output back on during the restore wait. */
export const SHUTDOWN_CANCEL = 'C\r';
/** NUT's load.off: shut down now and stay off. */
export const LOAD_OFF = 'S00R0000\r';

/** A command as people read it, without its CR: `S.5R0003`. */
export function commandText(command: string): string {
  return command.replace(/\r$/, '');
}

export interface Range {
  min: number;
  max: number;
}

/** ups.delay.shutdown (s): `.2` (12 s) up to `10` (10 min). */
export const SHUTDOWN_DELAY_RANGE: Readonly<Range> = { min: 12, max: 600 };
/** ups.delay.start (s): R0000..R9999 minutes. */
export const START_DELAY_RANGE: Readonly<Range> = { min: 0, max: 599_940 };
/** test.battery.start duration (s): T01..T99 minutes. */
export const TEST_DURATION_RANGE: Readonly<Range> = { min: 60, max: 5_940 };
export const DEFAULT_TEST_DURATION_S = 600;
export const DEFAULT_OFFDELAY_S = 30;
export const DEFAULT_ONDELAY_S = 180;

export function inRange(value: number, range: Range): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}

/** Throws a RangeError naming `what` unless `value` is an integer within `range`. */
export function requireRange(what: string, value: number, range: Range): number {
  if (!inRange(value, range)) {
    throw new RangeError(`${what} must be an integer in ${range.min}..${range.max}, got ${value}`);
  }
  return value;
}

/** `T<mm>`: a battery test of `seconds` rounded down to whole minutes. */
export function timedTest(seconds: number = DEFAULT_TEST_DURATION_S): string {
  requireRange('battery test duration (s)', seconds, TEST_DURATION_RANGE);
  return `T${pad(Math.floor(seconds / 60), 2)}\r`;
}

/** The `<n>` of S<n>: `.d` sixths of a minute below 60 s (30 → `.5`), else whole minutes (60 → `01`). */
export function shutdownDelayCode(offdelayS: number): string {
  requireRange('ups.delay.shutdown', offdelayS, SHUTDOWN_DELAY_RANGE);
  return offdelayS < 60 ? `.${Math.floor(offdelayS / 6)}` : pad(Math.floor(offdelayS / 60), 2);
}

/**
 * shutdown.return: `S<n>R<mmmm>`, the UPS turning the output back on at least `ondelayS` (in
 * whole minutes) after it went off, once mains is present; below one minute, plain `S<n>`, back as
 * soon as mains returns. Defaults 30/180 give `S.5R0003`.
 */
export function shutdownReturn(offdelayS: number, ondelayS: number): string {
  requireRange('ups.delay.start', ondelayS, START_DELAY_RANGE);
  const minutes = Math.floor(ondelayS / 60);
  const off = shutdownDelayCode(offdelayS);
  return minutes <= 0 ? `S${off}\r` : `S${off}R${pad(minutes, 4)}\r`;
}

/** shutdown.stayoff: `S<n>R0000`, the output stays off until `C`. */
export function shutdownStayOff(offdelayS: number): string {
  return `S${shutdownDelayCode(offdelayS)}R0000\r`;
}

/** What setting ups.delay.shutdown stores: a multiple of 6 s below 60, of 60 s above (NUT). */
export function roundShutdownDelay(seconds: number): number {
  return seconds < 60 ? seconds - (seconds % 6) : seconds - (seconds % 60);
}

/** What setting ups.delay.start stores: whole minutes (NUT). */
export function roundStartDelay(seconds: number): number {
  return seconds - (seconds % 60);
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
