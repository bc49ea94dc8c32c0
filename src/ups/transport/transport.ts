/**
 * The byte layer under the Megatec codec: one request, one reply. Implementations: `serial`
 * (serialport), `usb-cypress` (usb), and the in-process UPS simulator. They know nothing of
 * Megatec beyond "a command ends in CR and so does its reply".
 */
export type TransportErrorKind =
  | 'timeout' // no complete reply in time (`partial` holds what did arrive)
  | 'io' // a read/write failed; the next exchange may work
  | 'disconnected' // the device went away; exchange() reconnects on the next call
  | 'not-found' // no device matches the configured port / ids
  | 'access' // permission denied (udev rule, group)
  | 'busy'; // another driver (NUT, usbhid) holds the device

export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    readonly partial?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export interface ExchangeOptions {
  /** How long to wait for the CR-terminated reply. Default 1000 ms (NUT's SER_WAIT_SEC). */
  timeoutMs?: number;
}

export interface Transport {
  /** For messages: `serial /dev/ttyUSB0`, `usb 0665:5161 bus 003`. */
  readonly description: string;
  /** Opens the device; rejects with TransportError (not-found, access, busy, io). */
  open(): Promise<void>;
  /** Releases the device; safe to call twice. */
  close(): Promise<void>;
  /**
   * Discards stale input, sends `command` (which must end in CR) and resolves with the reply
   * text before its first CR (padding after the CR is dropped). Rejects with
   * TransportError('timeout') when no CR arrives within the timeout: commands that the UPS
   * does not answer (S, T, C, Q) rely on that. If the device was lost, tries to reopen it first.
   */
  exchange(command: string, options?: ExchangeOptions): Promise<string>;
}
