import { SerialPort } from 'serialport';
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { assertCommand, DEFAULT_REPLY_TIMEOUT_MS, errorMessage, printable, replyBeforeCr } from './framing.js';
import { TaskQueue } from './queue.js';
import { TransportError, type ExchangeOptions, type Transport, type TransportErrorKind } from './transport.js';

/** NUT's `cablepower`: which modem lines power the cable's level shifter. */
export type CablePower = 'normal' | 'reverse' | 'both' | 'none';

export const CABLE_LINES: Readonly<Record<CablePower, { readonly dtr: boolean; readonly rts: boolean }>> = {
  normal: { dtr: true, rts: false },
  reverse: { dtr: false, rts: true },
  both: { dtr: true, rts: true },
  none: { dtr: false, rts: false },
};

export interface SerialTransportOptions {
  /** Device path, e.g. /dev/ttyUSB0 or /dev/ttyS0. */
  path: string;
  /** DTR/RTS levels set after opening. Default `normal` (DTR on, RTS off). */
  cablepower?: CablePower;
  clock?: Clock;
  logger?: Logger;
}

// Megatec over RS-232: 2400 baud 8N1, no flow control (NUT nutdrv_qx upsdrv_initups).
const BAUD_RATE = 2400;
// NUT waits 1.1 s after setting DTR/RTS so a line-powered cable is ready for the first command.
const CABLE_POWER_UP_MS = 1100;
// Errors after which the device node is gone or dead (USB serial adapter unplugged).
const DISCONNECT_CODES = new Set(['ENOENT', 'EIO', 'ENXIO', 'ENODEV', 'EBADF']);

/** Megatec over a serial port (RS-232 cable or a USB serial adapter) via `serialport`. */
export class SerialTransport implements Transport {
  readonly description: string;
  private readonly path: string;
  private readonly cablepower: CablePower;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly queue = new TaskQueue();
  private port: SerialPort | undefined;
  private pending: PendingReply | undefined;

  constructor(options: SerialTransportOptions) {
    this.path = options.path;
    this.cablepower = options.cablepower ?? 'normal';
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.description = `serial ${options.path}`;
  }

  open(): Promise<void> {
    return this.queue.run(async () => {
      await this.ensureOpen();
    });
  }

  close(): Promise<void> {
    return this.queue.run(() => this.closePort());
  }

  exchange(command: string, options: ExchangeOptions = {}): Promise<string> {
    assertCommand(command);
    const timeoutMs = options.timeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    return this.queue.run(() => this.exchangeNow(command, timeoutMs));
  }

  private async exchangeNow(command: string, timeoutMs: number): Promise<string> {
    const port = await this.ensureOpen();
    try {
      // Old or unsolicited bytes must not be read as this command's reply.
      await settle((done) => port.flush(done));
      const pending = new PendingReply(command, timeoutMs, this.clock);
      this.pending = pending;
      try {
        await settle((done) => port.write(Buffer.from(command, 'latin1'), done));
        pending.startTimer();
        return await pending.reply;
      } finally {
        pending.dispose();
        this.pending = undefined;
      }
    } catch (err) {
      const failure = err instanceof TransportError ? err : this.runtimeError(err, `command ${printable(command)}`);
      if (failure.kind === 'disconnected') await this.dropPort(port);
      throw failure;
    }
  }

  private async ensureOpen(): Promise<SerialPort> {
    if (this.port) return this.port;
    const port = new SerialPort({
      path: this.path,
      baudRate: BAUD_RATE,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      autoOpen: false,
    });
    port.on('error', (err) => this.onPortError(port, err));
    try {
      await settle((done) => port.open(done));
    } catch (err) {
      throw serialOpenError(this.path, err);
    }
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    port.on('close', () => this.onPortClosed(port));
    this.port = port;
    await this.setCableLines(port);
    this.logger.info(`opened ${this.description}`, { cablepower: this.cablepower });
    return port;
  }

  private async setCableLines(port: SerialPort): Promise<void> {
    const lines = CABLE_LINES[this.cablepower];
    try {
      await settle((done) => port.set(lines, done));
    } catch (err) {
      // Pseudo-terminals and some adapters have no modem lines; the UPS may still answer.
      this.logger.warn(`${this.description}: cannot set DTR/RTS (${errorMessage(err)}); continuing without them`);
      return;
    }
    await this.clock.sleep(CABLE_POWER_UP_MS);
  }

  private onData(chunk: Buffer): void {
    if (this.pending) this.pending.push(chunk);
    else this.logger.debug(`${this.description}: discarded ${chunk.length} unsolicited bytes`);
  }

  private onPortError(port: SerialPort, err: Error): void {
    if (port !== this.port) return;
    const failure = this.runtimeError(err, 'port error');
    this.logger.warn(failure.message);
    this.pending?.fail(failure);
  }

  private onPortClosed(port: SerialPort): void {
    // A close we asked for has already detached the port; anything else is the device going away.
    if (port !== this.port) return;
    this.port = undefined;
    const failure = new TransportError(
      'disconnected',
      `${this.description}: the port closed unexpectedly (device unplugged?); will reopen on the next command`,
    );
    this.logger.warn(failure.message);
    this.pending?.fail(failure);
  }

  private async dropPort(port: SerialPort): Promise<void> {
    if (this.port === port) this.port = undefined;
    if (!port.isOpen) return;
    try {
      await settle((done) => port.close(done));
    } catch (err) {
      this.logger.debug(`${this.description}: closing a failed port: ${errorMessage(err)}`);
    }
  }

  private async closePort(): Promise<void> {
    const port = this.port;
    if (!port) return;
    await this.dropPort(port);
    this.logger.info(`closed ${this.description}`);
  }

  private runtimeError(err: unknown, context: string): TransportError {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const gone =
      (err as { disconnected?: boolean } | undefined)?.disconnected === true ||
      (code !== undefined && DISCONNECT_CODES.has(code));
    return new TransportError(
      gone ? 'disconnected' : 'io',
      `${this.description}: ${context}: ${errorMessage(err)}`,
      undefined,
      { cause: err },
    );
  }
}

/**
 * Maps a `serialport` open failure to a TransportError. The native binding reports only a
 * strerror() text (`Error: No such file or directory, cannot open /dev/ttyUSB0`), so match on it.
 */
export function serialOpenError(path: string, err: unknown): TransportError {
  const message = errorMessage(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const has = (pattern: RegExp, errno: string) => code === errno || pattern.test(message);
  const fail = (kind: TransportErrorKind, text: string) =>
    new TransportError(kind, `${text} (${message})`, undefined, { cause: err });
  if (has(/no such file or directory|no such device/i, 'ENOENT')) {
    return fail('not-found', `serial port ${path} does not exist`);
  }
  if (has(/permission denied/i, 'EACCES')) {
    return fail('access', `no permission to open ${path}: run as root or add the service user to the "dialout" group`);
  }
  if (has(/cannot lock port|resource busy|resource temporarily unavailable/i, 'EBUSY')) {
    return fail('busy', `${path} is in use: stop NUT's nutdrv_qx/blazer_ser or any serial console on it`);
  }
  return fail('io', `cannot open ${path}`);
}

/** The reply being collected for one command: resolves at the first CR, or times out. */
class PendingReply {
  readonly reply: Promise<string>;
  private resolve!: (text: string) => void;
  private reject!: (err: TransportError) => void;
  private received = Buffer.alloc(0);
  private timer: TimerHandle | undefined;
  private settled = false;

  constructor(
    private readonly command: string,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {
    this.reply = new Promise<string>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A disconnect may fail the reply before anyone awaits it.
    this.reply.catch(() => undefined);
  }

  startTimer(): void {
    if (this.settled) return;
    this.timer = this.clock.setTimeout(() => {
      const partial = this.received.toString('latin1');
      this.fail(
        new TransportError('timeout', `no reply to ${printable(this.command)} within ${this.timeoutMs} ms`, partial),
      );
    }, this.timeoutMs);
  }

  push(chunk: Buffer): void {
    if (this.settled) return;
    this.received = Buffer.concat([this.received, chunk]);
    const text = replyBeforeCr(this.received);
    if (text === undefined) return;
    this.settled = true;
    this.dispose();
    this.resolve(text);
  }

  fail(err: TransportError): void {
    if (this.settled) return;
    this.settled = true;
    this.dispose();
    this.reject(err);
  }

  dispose(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function settle(start: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => start((err) => (err ? reject(err) : resolve())));
}
