import {
  BEEPER_TOGGLE,
  LOAD_OFF,
  SHUTDOWN_CANCEL,
  SHUTDOWN_DELAY_RANGE,
  START_DELAY_RANGE,
  TEST_CANCEL,
  TEST_DEEP,
  TEST_DURATION_RANGE,
  TEST_QUICK,
  inRange,
  shutdownReturn,
  shutdownStayOff,
  timedTest,
  type Range,
} from './megatec/commands.js';

/**
 * Why an instant command or a variable change was refused, mapped by the NUT server to
 * CMD-NOT-SUPPORTED, VAR-NOT-SUPPORTED, READONLY, INVALID-VALUE and INSTCMD-FAILED/SET-FAILED.
 */
export type UpsCommandErrorCode = 'unknown-command' | 'unknown-variable' | 'read-only' | 'invalid-value' | 'failed';

export class UpsCommandError extends Error {
  constructor(
    readonly code: UpsCommandErrorCode,
    message: string,
    /** What reached the wire before the failure (shutdownSequence). */
    readonly sent: readonly string[] = [],
  ) {
    super(message);
    this.name = 'UpsCommandError';
  }
}

/** The instant commands, as `upscmd -l` lists them. */
export const INSTCMDS = [
  'beeper.disable',
  'beeper.enable',
  'beeper.toggle',
  'load.off',
  'load.on',
  'shutdown.return',
  'shutdown.stayoff',
  'shutdown.stop',
  'test.battery.start',
  'test.battery.start.deep',
  'test.battery.start.quick',
  'test.battery.stop',
] as const;
export type InstcmdName = (typeof INSTCMDS)[number];

export function isInstcmd(name: string): name is InstcmdName {
  return (INSTCMDS as readonly string[]).includes(name);
}

/** The writable variables and their ranges in seconds (LIST RW, LIST RANGE). */
export const WRITABLE_VARIABLES = {
  'ups.delay.shutdown': SHUTDOWN_DELAY_RANGE,
  'ups.delay.start': START_DELAY_RANGE,
} as const satisfies Record<string, Readonly<Range>>;
export type WritableVariable = keyof typeof WRITABLE_VARIABLES;

export function isWritableVariable(name: string): name is WritableVariable {
  return Object.hasOwn(WRITABLE_VARIABLES, name);
}

/** A whole number of seconds within `range`, as upsd checks a RANGE variable. */
export function parseSeconds(what: string, value: string | number, range: Readonly<Range>): number {
  const text = String(value).trim();
  const seconds = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!inRange(seconds, range)) {
    const expected = `a whole number of seconds in ${range.min}..${range.max}`;
    throw new UpsCommandError('invalid-value', `${what}: '${value}' is not ${expected}`);
  }
  return seconds;
}

export interface InstcmdContext {
  /** test.battery.start's duration (s); default 600. */
  value?: string;
  offdelayS: number;
  ondelayS: number;
  /** b0 of a fresh status read; needed by beeper.enable/disable only. */
  beeperOn?: boolean;
}

/**
 * The wire command for an instant command (NUT's megatec table), or undefined when there is
 * nothing to do: beeper.enable/disable with the beeper already in that state.
 */
export function instcmdWire(name: InstcmdName, ctx: InstcmdContext): string | undefined {
  switch (name) {
    case 'beeper.toggle':
      return BEEPER_TOGGLE;
    case 'beeper.enable':
    case 'beeper.disable': {
      if (ctx.beeperOn === undefined) throw new UpsCommandError('failed', `${name}: the beeper state is not known`);
      // The UPS only has a toggle.
      return ctx.beeperOn === (name === 'beeper.enable') ? undefined : BEEPER_TOGGLE;
    }
    case 'load.off':
      return LOAD_OFF;
    case 'load.on':
    case 'shutdown.stop':
      return SHUTDOWN_CANCEL;
    case 'shutdown.return':
      return shutdownReturn(ctx.offdelayS, ctx.ondelayS);
    case 'shutdown.stayoff':
      return shutdownStayOff(ctx.offdelayS);
    case 'test.battery.start': {
      const given = ctx.value?.trim() ?? '';
      return timedTest(given === '' ? undefined : parseSeconds('test.battery.start', given, TEST_DURATION_RANGE));
    }
    case 'test.battery.start.deep':
      return TEST_DEEP;
    case 'test.battery.start.quick':
      return TEST_QUICK;
    case 'test.battery.stop':
      return TEST_CANCEL;
  }
}
