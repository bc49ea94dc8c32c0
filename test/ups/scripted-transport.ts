import type { Clock } from '../../src/core/clock.js';
import { TransportError, type ExchangeOptions, type Transport } from '../../src/ups/transport/transport.js';

/**
 * What the fake UPS does with one command: answer with a text (before CR), fail with a
 * TransportError, or stay silent so the exchange times out as a real one would.
 */
export type FakeReply = string | TransportError | 'silence';

const DEFAULT_TIMEOUT_MS = 1000;

/** A Transport that answers from a script, on a (manual) clock, and records what was sent. */
export class ScriptedTransport implements Transport {
  readonly description = 'fake /dev/ups';
  /** Every command as sent (CR included) with the clock time it was sent at. */
  readonly sent: { command: string; time: number }[] = [];
  opens = 0;
  closes = 0;
  /** When set, open() rejects with it. */
  openError: TransportError | undefined;
  /** The most exchanges that were ever under way at once. */
  maxConcurrent = 0;
  private concurrent = 0;
  private readonly standing = new Map<string, FakeReply>();
  private readonly queued = new Map<string, FakeReply[]>();

  /** `replies` maps a command without CR (`Q1`) to its standing reply; others get silence. */
  constructor(
    private readonly clock: Clock,
    replies: Record<string, FakeReply> = {},
  ) {
    for (const [command, reply] of Object.entries(replies)) this.standing.set(command, reply);
  }

  /** Changes the standing reply to `command` (without CR). */
  answer(command: string, reply: FakeReply): void {
    this.standing.set(command, reply);
  }

  /** One-shot replies to `command`, used in order before the standing reply. */
  queue(command: string, ...replies: FakeReply[]): void {
    this.queued.set(command, [...(this.queued.get(command) ?? []), ...replies]);
  }

  /** The commands sent, without CR. */
  commands(): string[] {
    return this.sent.map((s) => s.command.replace(/\r$/, ''));
  }

  async open(): Promise<void> {
    this.opens++;
    if (this.openError) throw this.openError;
  }

  async close(): Promise<void> {
    this.closes++;
  }

  async exchange(command: string, options: ExchangeOptions = {}): Promise<string> {
    if (!command.endsWith('\r')) throw new Error(`command ${JSON.stringify(command)} does not end in CR`);
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      this.sent.push({ command, time: this.clock.now() });
      const key = command.slice(0, -1);
      const reply = this.queued.get(key)?.shift() ?? this.standing.get(key) ?? 'silence';
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      if (reply === 'silence') {
        await this.clock.sleep(timeoutMs);
        throw new TransportError('timeout', `no reply to ${key} within ${timeoutMs} ms`, '');
      }
      if (reply instanceof TransportError) {
        if (reply.kind === 'timeout') await this.clock.sleep(timeoutMs);
        throw reply;
      }
      return reply;
    } finally {
      this.concurrent--;
    }
  }
}
