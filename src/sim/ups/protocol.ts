/**
 * The simulated UPS's side of the Megatec protocol: what a command means to the UPS and how its
 * replies are laid out (nut.md §2, nut-website protocols/megatec.txt). Written independently of
 * the production codec in src/ups/ so the simulator can catch its mistakes instead of sharing them.
 */

/** What happens to the output after a shutdown turned it off. */
export type RestorePlan =
  | { kind: 'after-minutes'; minutes: number } // S<n>R<m>, m > 0: wait m minutes, then for mains
  | { kind: 'on-mains' } // S<n>: back 10 s after mains is present
  | { kind: 'stayoff' }; // S<n>R0000: only C turns it back on

export type TestMode = 'quick' | 'deep' | 'timed';

export type UpsCommand =
  | { kind: 'status' } // Q1
  | { kind: 'rating' } // F
  | { kind: 'info' } // I
  | { kind: 'beeper-toggle' } // Q
  | { kind: 'test'; mode: TestMode; durationMs?: number } // T, TL, T<nn>
  | { kind: 'cancel-test' } // CT
  | { kind: 'cancel-shutdown' } // C
  | { kind: 'shutdown'; text: string; offDelayMs: number; restore: RestorePlan } // S<n>[R<m>]
  | { kind: 'unknown'; text: string };

export const QUICK_TEST_MS = 10_000;
// S<n>: `.d` is d sixths of a minute, `NN` whole minutes; the spec allows up to 10 minutes
// (`00` is NUT's load.off). R<m> is 0000..9999 minutes.
const SHUTDOWN = /^S(\.\d|\d\d)(?:R(\d{4}))?$/;
const TIMED_TEST = /^T(\d\d)$/;
const MAX_SHUTDOWN_MINUTES = 10;

/** The command text of received bytes: without the CR, the NUL padding a USB bridge adds, or a stray LF. */
export function commandText(raw: Buffer): string {
  return raw.toString('latin1').replace(/[\r\n\0]/g, '');
}

/** Parses one command (without its CR). Anything the UPS cannot handle is `unknown`. */
export function parseCommand(text: string): UpsCommand {
  switch (text) {
    case 'Q1':
      return { kind: 'status' };
    case 'F':
      return { kind: 'rating' };
    case 'I':
      return { kind: 'info' };
    case 'Q':
      return { kind: 'beeper-toggle' };
    case 'T':
      return { kind: 'test', mode: 'quick', durationMs: QUICK_TEST_MS };
    case 'TL':
      return { kind: 'test', mode: 'deep' };
    case 'CT':
      return { kind: 'cancel-test' };
    case 'C':
      return { kind: 'cancel-shutdown' };
  }
  const timed = TIMED_TEST.exec(text);
  if (timed) {
    const minutes = Number(timed[1]);
    // The spec's range is 01..99; T00 is not a test.
    return minutes > 0 ? { kind: 'test', mode: 'timed', durationMs: minutes * 60_000 } : { kind: 'unknown', text };
  }
  const shutdown = SHUTDOWN.exec(text);
  if (shutdown) {
    const delay = shutdown[1]!;
    const offDelayMs = delay.startsWith('.') ? Number(delay.slice(1)) * 6_000 : Number(delay) * 60_000;
    if (offDelayMs > MAX_SHUTDOWN_MINUTES * 60_000) return { kind: 'unknown', text };
    return { kind: 'shutdown', text, offDelayMs, restore: restorePlan(shutdown[2]) };
  }
  return { kind: 'unknown', text };
}

function restorePlan(minutes: string | undefined): RestorePlan {
  if (minutes === undefined) return { kind: 'on-mains' };
  const m = Number(minutes);
  return m === 0 ? { kind: 'stayoff' } : { kind: 'after-minutes', minutes: m };
}

/** How the simulator's log names a restore plan (as in the NUT captures: `3min`, `stayoff`). */
export function describeRestore(plan: RestorePlan): string {
  switch (plan.kind) {
    case 'after-minutes':
      return `${plan.minutes}min`;
    case 'on-mains':
      return 'on-mains+10s';
    case 'stayoff':
      return 'stayoff';
  }
}

/** The values a Q1 reply carries. */
export interface StatusFields {
  inputVoltage: number;
  inputFaultVoltage: number;
  outputVoltage: number;
  loadPercent: number;
  frequency: number;
  batteryVoltage: number;
  temperature: number;
  /** b7..b0 as eight `0`/`1` characters. */
  bits: string;
}

export interface StatusBits {
  utilityFail: boolean; // b7
  batteryLow: boolean; // b6
  avrActive: boolean; // b5
  upsFailed: boolean; // b4
  standby: boolean; // b3: line-interactive/offline (battery field is the total SS.S)
  testInProgress: boolean; // b2
  shutdownActive: boolean; // b1
  beeperOn: boolean; // b0
}

export function formatBits(b: StatusBits): string {
  return [b.utilityFail, b.batteryLow, b.avrActive, b.upsFailed, b.standby, b.testInProgress, b.shutdownActive, b.beeperOn]
    .map((bit) => (bit ? '1' : '0'))
    .join('');
}

/**
 * Q1 reply without the CR: `(MMM.M NNN.N PPP.P QQQ RR.R SS.S TT.T b7..b0`, 46 characters.
 * The battery field is the standby-unit form `SS.S` (total volts, e.g. `13.6`), as Ippon
 * line-interactive units send it and b3=1 announces; NUT prints it as `13.60`.
 */
export function formatStatus(f: StatusFields): string {
  return [
    '(' + fixed(f.inputVoltage, 5, 1),
    fixed(f.inputFaultVoltage, 5, 1),
    fixed(f.outputVoltage, 5, 1),
    fixed(f.loadPercent, 3, 0),
    fixed(f.frequency, 4, 1),
    fixed(f.batteryVoltage, 4, 1),
    fixed(f.temperature, 4, 1),
    f.bits,
  ].join(' ');
}

export interface Rating {
  voltage: number;
  current: number;
  batteryVoltage: number;
  frequency: number;
}

/** F reply without the CR: `#MMM.M QQQ SS.SS RR.R`, e.g. `#220.0 003 12.00 50.0`. */
export function formatRating(r: Rating): string {
  return `#${fixed(r.voltage, 5, 1)} ${fixed(r.current, 3, 0)} ${fixed(r.batteryVoltage, 5, 2)} ${fixed(r.frequency, 4, 1)}`;
}

export interface Identity {
  manufacturer: string;
  model: string;
  firmware: string;
}

/** I reply without the CR: `#` + company(15) + ` ` + model(10) + ` ` + version(10), 38 characters. */
export function formatInfo(id: Identity): string {
  return `#${column(id.manufacturer, 15)} ${column(id.model, 10)} ${column(id.firmware, 10)}`;
}

/**
 * A number in a fixed-width Megatec field, zero-padded on the left (`000.0`, `09.8`, `028`).
 * Fields hold only digits and a dot, so values are clamped to what the width can show.
 */
export function fixed(value: number, width: number, decimals: number): string {
  const intDigits = decimals === 0 ? width : width - decimals - 1;
  const max = 10 ** intDigits - 10 ** -decimals;
  const clamped = Math.min(Math.max(Number.isFinite(value) ? value : 0, 0), max);
  return clamped.toFixed(decimals).padStart(width, '0');
}

function column(text: string, width: number): string {
  return text.slice(0, width).padEnd(width, ' ');
}
