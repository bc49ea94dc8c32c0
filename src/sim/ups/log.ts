import { EventEmitter } from 'node:events';
import type { Clock } from '../../core/clock.js';

/** RX: bytes the UPS received; TX: bytes it sent; EV: something the UPS did. */
export type LogKind = 'RX' | 'TX' | 'EV';

export interface LogEntry {
  seq: number;
  /** Clock time (ms). */
  time: number;
  kind: LogKind;
  /** RX/TX: the bytes as latin1 text (CR included); EV: the event text. */
  text: string;
  /** RX/TX: the bytes in hex, `51 31 0d`. */
  hex?: string;
  /** Why received bytes were not acted on (comm loss). */
  note?: string;
}

export const DEFAULT_LOG_LIMIT = 10_000;

/**
 * The simulator's record of the wire and its own actions, in the format of the NUT captures
 * (`24 1795508394.982 RX 'S.5R0003\r'`, `25 … EV SHUTDOWN_ARMED …`). Bounded: a driver polling
 * every 2 s for a day would otherwise grow it without end.
 */
export class SimLog extends EventEmitter<{ entry: [LogEntry] }> {
  private readonly list: LogEntry[] = [];
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limit = DEFAULT_LOG_LIMIT,
  ) {
    super();
  }

  rx(raw: Buffer, note?: string): LogEntry {
    return this.add('RX', raw.toString('latin1'), toHex(raw), note);
  }

  tx(raw: Buffer): LogEntry {
    return this.add('TX', raw.toString('latin1'), toHex(raw));
  }

  event(text: string): LogEntry {
    return this.add('EV', text);
  }

  /** Entries with a sequence number above `since`, oldest first. */
  entries(since = 0): LogEntry[] {
    return this.list.filter((e) => e.seq > since);
  }

  /** Every command received, with its time and bytes. */
  received(): LogEntry[] {
    return this.list.filter((e) => e.kind === 'RX');
  }

  events(): string[] {
    return this.list.filter((e) => e.kind === 'EV').map((e) => e.text);
  }

  get lastSeq(): number {
    return this.seq;
  }

  private add(kind: LogKind, text: string, hex?: string, note?: string): LogEntry {
    const entry: LogEntry = { seq: ++this.seq, time: this.clock.now(), kind, text };
    if (hex !== undefined) entry.hex = hex;
    if (note !== undefined) entry.note = note;
    this.list.push(entry);
    if (this.list.length > this.limit) this.list.splice(0, this.list.length - this.limit);
    this.emit('entry', entry);
    return entry;
  }
}

/** One capture-style line: `24 1795508394.982 RX 'S.5R0003\r'`. */
export function formatLogEntry(e: LogEntry): string {
  const body = e.kind === 'EV' ? e.text : reprBytes(e.text);
  const note = e.note ? ` (${e.note})` : '';
  return `${e.seq} ${(e.time / 1000).toFixed(3)} ${e.kind} ${body}${note}`;
}

/** Python-style repr of latin1 text, as the captures print bytes: `'Q1\r'`. */
export function reprBytes(text: string): string {
  let out = "'";
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (ch === '\r') out += '\\r';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\\' || ch === "'") out += '\\' + ch;
    else if (code < 0x20 || code >= 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + "'";
}

function toHex(raw: Buffer): string {
  return [...raw].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}
