import type { Clock, TimerHandle } from '../../core/clock.js';
// The one production import a simulator may have: the contract it implements.
import { TransportError, type ExchangeOptions, type Transport } from '../../ups/transport/transport.js';
import type { UpsResponder } from './responder.js';

const DEFAULT_TIMEOUT_MS = 1000;
const CR = 0x0d;

/**
 * The simulated UPS as a Transport, with no pty: exchange() writes the command into the
 * responder and resolves with the reply text before the first CR. Slow replies and comm loss
 * play out on the clock, so a ManualClock drives timeouts in tests and a ScaledClock in drills.
 */
export class SimTransport implements Transport {
  readonly description: string;
  private tail: Promise<unknown> = Promise.resolve();
  private opened = false;
  private pending: ((chunk: Buffer) => void) | undefined;
  private readonly onData = (chunk: Buffer) => this.pending?.(chunk);

  constructor(
    private readonly responder: UpsResponder,
    private readonly clock: Clock,
    description = 'sim in-process Megatec UPS',
  ) {
    this.description = description;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.responder.on('data', this.onData);
    this.opened = true;
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.responder.off('data', this.onData);
    this.opened = false;
  }

  exchange(command: string, options: ExchangeOptions = {}): Promise<string> {
    if (!command.endsWith('\r')) {
      return Promise.reject(new TypeError(`a Megatec command must end in CR, got ${JSON.stringify(command)}`));
    }
    // One command at a time, like a serial line.
    const result = this.tail.then(() => this.exchangeNow(command, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async exchangeNow(command: string, timeoutMs: number): Promise<string> {
    // Like the real transports: reopen on demand; bytes from before the write are stale.
    await this.open();
    return new Promise<string>((resolve, reject) => {
      let received = Buffer.alloc(0);
      let timer: TimerHandle | undefined;
      const finish = () => {
        this.pending = undefined;
        this.clock.clearTimeout(timer);
      };
      this.pending = (chunk) => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf(CR);
        if (end < 0) return;
        finish();
        resolve(received.subarray(0, end).toString('latin1'));
      };
      timer = this.clock.setTimeout(() => {
        finish();
        reject(
          new TransportError(
            'timeout',
            `no reply to ${command.slice(0, -1)} within ${timeoutMs} ms`,
            received.toString('latin1'),
          ),
        );
      }, timeoutMs);
      this.responder.receive(Buffer.from(command, 'latin1'));
    });
  }
}
