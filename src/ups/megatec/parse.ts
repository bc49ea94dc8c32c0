/**
 * Parsers for the Megatec replies pvepower reads: Q1 (status), F (rating) and I (identity).
 * Layouts and rules follow NUT's megatec/old tables (nut.md §2); every reply is the text before
 * its CR, as the transport hands it over.
 */
import { commandText } from './commands.js';

export type ParseErrorReason =
  | 'echo' // the UPS sent the command back: it does not support it
  | 'too-short'
  | 'bad-start' // no leading `(` (Q1) or `#` (F, I)
  | 'bad-layout' // a field separator is not a space
  | 'bad-number' // a numeric field holds something other than digits, `.` and spaces
  | 'bad-status-bits' // the 8 status characters are not all `0`/`1`
  | 'bad-text' // unprintable characters in the identity
  | 'refused' // NAK to a command
  | 'unexpected-reply'; // a command answered with something other than nothing or ACK

export class ParseError extends Error {
  constructor(
    readonly reason: ParseErrorReason,
    message: string,
    /** The reply that was rejected. */
    readonly reply: string,
  ) {
    super(message);
    this.name = 'ParseError';
  }
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ParseError };

/** Q1 status bits, b7 first on the wire. */
export interface Q1StatusBits {
  utilityFail: boolean; // b7
  batteryLow: boolean; // b6
  bypassBoostOrBuck: boolean; // b5
  upsFailed: boolean; // b4
  /** b3: offline / line-interactive (1) or on-line (0). */
  lineInteractive: boolean;
  testInProgress: boolean; // b2
  shutdownActive: boolean; // b1
  beeperOn: boolean; // b0
}

/** A Q1 reply. A field the UPS filled with `@`/`-` placeholders (or blanks) is absent. */
export interface Q1Reading {
  inputVoltage?: number;
  inputFaultVoltage?: number;
  outputVoltage?: number;
  loadPercent?: number;
  inputFrequency?: number;
  /** As the UPS sends it: the total (`13.6`) or, on many on-line units, volts per cell (`2.27`). */
  batteryVoltage?: number;
  temperature?: number;
  bits: Q1StatusBits;
}

/** An F reply. */
export interface Rating {
  inputVoltage?: number;
  inputCurrent?: number;
  batteryVoltage?: number;
  inputFrequency?: number;
}

/** An I reply; blank or all-dash columns are absent. */
export interface Identity {
  manufacturer?: string;
  model?: string;
  firmware?: string;
}

type NumericField<K extends string> = readonly [key: K, from: number, to: number];

// `(MMM.M NNN.N PPP.P QQQ RR.R S.SS TT.T b7b6b5b4b3b2b1b0`: inclusive character positions.
const Q1_FIELDS: readonly NumericField<Exclude<keyof Q1Reading, 'bits'>>[] = [
  ['inputVoltage', 1, 5],
  ['inputFaultVoltage', 7, 11],
  ['outputVoltage', 13, 17],
  ['loadPercent', 19, 21],
  ['inputFrequency', 23, 26],
  ['batteryVoltage', 28, 31],
  ['temperature', 33, 36],
];
const Q1_BITS_AT = 38;
export const Q1_MIN_LENGTH = 46;

// `#MMM.M QQQ SS.SS RR.R`
const F_FIELDS: readonly NumericField<keyof Rating>[] = [
  ['inputVoltage', 1, 5],
  ['inputCurrent', 7, 9],
  ['batteryVoltage', 11, 15],
  ['inputFrequency', 17, 20],
];
export const F_MIN_LENGTH = 21;

// `#` + company(15) + ` ` + model(10) + ` ` + version(10)
const I_COLUMNS: readonly (readonly [keyof Identity, number, number])[] = [
  ['manufacturer', 1, 15],
  ['model', 17, 26],
  ['firmware', 28, 37],
];
export const I_MIN_LENGTH = 38;

/** True when `reply` is `command` sent back, the Megatec way of saying "not supported". */
export function isEcho(reply: string, command: string): boolean {
  return reply === commandText(command);
}

export function parseQ1(reply: string): ParseResult<Q1Reading> {
  const framing = checkFraming(reply, 'Q1', '(', Q1_MIN_LENGTH);
  if (framing) return fail(framing);
  const numbers = readNumbers(reply, Q1_FIELDS, Q1_BITS_AT - 1);
  if (numbers instanceof ParseError) return fail(numbers);
  const bits = reply.slice(Q1_BITS_AT, Q1_BITS_AT + 8);
  if (!/^[01]{8}$/.test(bits)) {
    return fail(new ParseError('bad-status-bits', `status bits '${bits}' are not eight 0/1`, reply));
  }
  const bit = (b: number) => bits[7 - b] === '1';
  return {
    ok: true,
    value: {
      ...numbers,
      bits: {
        utilityFail: bit(7),
        batteryLow: bit(6),
        bypassBoostOrBuck: bit(5),
        upsFailed: bit(4),
        lineInteractive: bit(3),
        testInProgress: bit(2),
        shutdownActive: bit(1),
        beeperOn: bit(0),
      },
    },
  };
}

export function parseRating(reply: string): ParseResult<Rating> {
  const framing = checkFraming(reply, 'F', '#', F_MIN_LENGTH);
  if (framing) return fail(framing);
  const numbers = readNumbers(reply, F_FIELDS);
  return numbers instanceof ParseError ? fail(numbers) : { ok: true, value: numbers };
}

export function parseIdentity(reply: string): ParseResult<Identity> {
  const framing = checkFraming(reply, 'I', '#', I_MIN_LENGTH);
  if (framing) return fail(framing);
  const body = reply.slice(0, I_MIN_LENGTH);
  if (!/^[\x20-\x7e]*$/.test(body)) {
    return fail(new ParseError('bad-text', `identity ${JSON.stringify(body)} has unprintable characters`, reply));
  }
  const identity: Identity = {};
  for (const [key, from, to] of I_COLUMNS) {
    const text = body.slice(from, to + 1).trim();
    // Units without a value fill the column with dashes (`#-------------   ------     VT12046Q`).
    if (text !== '' && !/^-+$/.test(text)) identity[key] = text;
  }
  return { ok: true, value: identity };
}

/**
 * Whether the UPS took a command that has no data reply (S, T, C, Q…): NUT counts an empty reply
 * or `ACK` as success (mecer-style units wrap it in `(`). A reply that times out is also success,
 * but that is the caller's to judge, as it never reaches here.
 */
export function checkCommandReply(reply: string, command: string): ParseError | undefined {
  const text = commandText(command);
  if (reply === '' || reply === 'ACK' || reply === '(ACK') return undefined;
  if (isEcho(reply, command)) return new ParseError('echo', `the UPS echoed '${text}': command not supported`, reply);
  if (reply === 'NAK' || reply === '(NAK') {
    return new ParseError('refused', `the UPS refused '${text}' (${reply})`, reply);
  }
  return new ParseError('unexpected-reply', `unexpected reply ${JSON.stringify(reply)} to '${text}'`, reply);
}

function fail<T>(error: ParseError): ParseResult<T> {
  return { ok: false, error };
}

function checkFraming(reply: string, command: string, lead: string, minLength: number): ParseError | undefined {
  if (isEcho(reply, command)) {
    return new ParseError('echo', `the UPS echoed '${command}': command not supported`, reply);
  }
  if (reply.length < minLength) {
    return new ParseError('too-short', `${command} reply has ${reply.length} characters, needs ${minLength}`, reply);
  }
  if (reply[0] !== lead) return new ParseError('bad-start', `${command} reply does not start with '${lead}'`, reply);
  return undefined;
}

/**
 * Reads the numeric fields and checks that each is followed by a space, so a reply whose
 * columns have shifted (a lost or extra character) is rejected instead of misread.
 * `lastSeparatorAt` is the separator after the final field, when the layout has one.
 */
function readNumbers<K extends string>(
  reply: string,
  fields: readonly NumericField<K>[],
  lastSeparatorAt?: number,
): Partial<Record<K, number>> | ParseError {
  const values: Partial<Record<K, number>> = {};
  const separators = fields.slice(1).map(([, from]) => from - 1);
  if (lastSeparatorAt !== undefined) separators.push(lastSeparatorAt);
  for (const at of separators) {
    if (reply[at] !== ' ') return new ParseError('bad-layout', `expected a space at position ${at}`, reply);
  }
  for (const [key, from, to] of fields) {
    const text = reply.slice(from, to + 1);
    const value = numericField(text);
    if (value === null) return new ParseError('bad-number', `field '${text}' (${key}) is not a number`, reply);
    if (value !== undefined) values[key] = value;
  }
  return values;
}

/** A number, undefined for a placeholder (`--.-`, `@@@.@`, blanks), null for anything else. */
function numericField(text: string): number | undefined | null {
  if (/^[0-9. ]+$/.test(text)) {
    const trimmed = text.trim();
    if (trimmed === '') return undefined;
    const value = Number(trimmed);
    return Number.isFinite(value) ? value : null;
  }
  return /^[@\-. ]+$/.test(text) ? undefined : null;
}
