import { userInfo } from 'node:os';
import { systemClock, type Clock } from '../../core/clock.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { assertCommand, DEFAULT_REPLY_TIMEOUT_MS, errorMessage, printable, replyBeforeCr } from './framing.js';
import { TaskQueue } from './queue.js';
import { TransportError, type ExchangeOptions, type Transport, type TransportErrorKind } from './transport.js';
import {
  formatUsbId,
  NodeUsbBackend,
  UsbError,
  type UsbBackend,
  type UsbControlSetup,
  type UsbDeviceEntry,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
  type UsbHotplugEvent,
} from './usb-backend.js';

export interface CypressUsbOptions {
  /** Default CYPRESS_VENDOR_ID (0x0665). */
  vendorId?: number;
  /** Default CYPRESS_PRODUCT_ID (0x5161). */
  productId?: number;
  /** Only a device on this bus, as lsusb prints it ("003"). */
  bus?: string;
  /** Only the device with this iSerialNumber string. */
  serial?: string;
  backend?: UsbBackend;
  clock?: Clock;
  logger?: Logger;
}

/** The Cypress USB-to-serial bridge in Ippon Back Basic, Voltronic, Salicru… units. */
export const CYPRESS_VENDOR_ID = 0x0665;
export const CYPRESS_PRODUCT_ID = 0x5161;

// The bridge is a HID device: interface 0, one interrupt IN endpoint, commands as SET_REPORT.
const INTERFACE = 0;
const ENDPOINT_IN = 0x81;
const REPORT_SIZE = 8;
const SET_OUTPUT_REPORT: UsbControlSetup = { requestType: 0x21, request: 0x09, value: 0x0200, index: 0 };
// NUT's cypress_command write timeout.
const WRITE_TIMEOUT_MS = 5000;
// libusb1.c open_dev: claim, and on failure detach the kernel driver and retry up to 3 times.
const CLAIM_RETRIES = 3;
// Stale reports (late replies) are already queued, so a short read finds them (NUT PR #3563).
const DRAIN_READ_TIMEOUT_MS = 20;
// Two full stale Q1 replies are 12 reports; beyond that the device is babbling, go on anyway.
const MAX_STALE_REPORTS = 16;
// NUT reads into a 512-byte buffer; a longer reply without CR is garbage.
const MAX_REPLY_BYTES = 512;
// The bridge sometimes wedges sending oversized frames until a USB reset (NUT #598, PR #3448).
const OVERFLOWS_BEFORE_RESET = 3;

interface OpenDevice {
  readonly handle: UsbDeviceHandle;
  readonly info: UsbDeviceInfo;
  /** We took interface 0 from usbhid; give it back on an orderly close. */
  readonly detachedKernelDriver: boolean;
}

type Stage = 'drain' | 'send' | 'read';

/** Megatec over the Cypress USB-to-serial bridge (0665:5161), framed like NUT's cypress subdriver. */
export class CypressUsbTransport implements Transport {
  private readonly vendorId: number;
  private readonly productId: number;
  private readonly bus: string | undefined;
  private readonly serial: string | undefined;
  private readonly backend: UsbBackend;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly queue = new TaskQueue();
  private device: OpenDevice | undefined;
  private consecutiveOverflows = 0;
  private stopWatching: (() => void) | undefined;

  constructor(options: CypressUsbOptions = {}) {
    this.vendorId = options.vendorId ?? CYPRESS_VENDOR_ID;
    this.productId = options.productId ?? CYPRESS_PRODUCT_ID;
    this.bus = options.bus;
    this.serial = options.serial;
    this.backend = options.backend ?? new NodeUsbBackend();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
  }

  get description(): string {
    const bus = this.device?.info.bus ?? this.bus;
    return [
      `usb ${formatUsbId(this.vendorId, this.productId)}`,
      bus === undefined ? '' : ` bus ${bus}`,
      this.serial === undefined ? '' : ` serial ${this.serial}`,
    ].join('');
  }

  open(): Promise<void> {
    return this.queue.run(async () => {
      await this.ensureOpen();
    });
  }

  close(): Promise<void> {
    return this.queue.run(() => this.release());
  }

  exchange(command: string, options: ExchangeOptions = {}): Promise<string> {
    assertCommand(command);
    const timeoutMs = options.timeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    return this.queue.run(() => this.exchangeNow(command, timeoutMs));
  }

  private async exchangeNow(command: string, timeoutMs: number): Promise<string> {
    const device = await this.ensureOpen();
    let stage: Stage = 'drain';
    let received = Buffer.alloc(0);
    try {
      await this.drainStaleReports(device.handle);
      stage = 'send';
      await this.send(device.handle, command);
      stage = 'read';
      const deadline = this.clock.now() + timeoutMs;
      let reply: string | undefined;
      while ((reply = replyBeforeCr(received)) === undefined) {
        if (received.length >= MAX_REPLY_BYTES) {
          throw new TransportError(
            'io',
            `${this.description}: no CR in ${received.length} bytes of reply to ${printable(command)}`,
            partialText(received),
          );
        }
        const remaining = deadline - this.clock.now();
        if (remaining <= 0) throw new UsbError('TIMEOUT', 'reply deadline passed');
        const report = await device.handle.interruptIn(ENDPOINT_IN, REPORT_SIZE, remaining);
        received = Buffer.concat([received, report]);
      }
      this.consecutiveOverflows = 0;
      return reply;
    } catch (err) {
      throw await this.failure(device, err, { stage, command, received, timeoutMs });
    }
  }

  /** Reads and discards reports left over from earlier commands, so they are not taken as this reply. */
  private async drainStaleReports(handle: UsbDeviceHandle): Promise<void> {
    let stale = 0;
    while (stale < MAX_STALE_REPORTS) {
      try {
        await handle.interruptIn(ENDPOINT_IN, REPORT_SIZE, DRAIN_READ_TIMEOUT_MS);
      } catch (err) {
        if (err instanceof UsbError && err.code === 'TIMEOUT') break;
        throw err;
      }
      stale++;
    }
    if (stale === MAX_STALE_REPORTS) {
      this.logger.warn(`${this.description}: still receiving reports after discarding ${stale}; sending anyway`);
    } else if (stale > 0) {
      this.logger.debug(`${this.description}: discarded ${stale} stale reports`);
    }
  }

  /** Sends the command as 8-byte, NUL-padded HID output reports: `Q1\r` is one, `S.5R0003\r` two. */
  private async send(handle: UsbDeviceHandle, command: string): Promise<void> {
    const bytes = Buffer.from(command, 'latin1');
    for (let offset = 0; offset < bytes.length; offset += REPORT_SIZE) {
      const report = Buffer.alloc(REPORT_SIZE);
      bytes.copy(report, 0, offset, offset + REPORT_SIZE);
      const sent = await handle.controlTransferOut(SET_OUTPUT_REPORT, report, WRITE_TIMEOUT_MS);
      if (sent !== REPORT_SIZE) {
        throw new TransportError('io', `${this.description}: the device took ${sent} of ${REPORT_SIZE} command bytes`);
      }
    }
  }

  /** Turns a failed exchange into a TransportError, recovering the device as NUT's qx_command does. */
  private async failure(
    device: OpenDevice,
    err: unknown,
    context: { stage: Stage; command: string; received: Buffer; timeoutMs: number },
  ): Promise<TransportError> {
    const isOverflow = err instanceof UsbError && err.code === 'OVERFLOW';
    if (!isOverflow) this.consecutiveOverflows = 0;
    if (err instanceof TransportError) return err;
    const fail = (kind: TransportErrorKind, text: string, partial?: string) =>
      new TransportError(kind, `${this.description}: ${printable(context.command)}: ${text}`, partial, { cause: err });
    if (!(err instanceof UsbError)) return fail('io', errorMessage(err));
    const partial = partialText(context.received);
    switch (err.code) {
      case 'TIMEOUT':
        // Only a missing reply is a timeout: callers take that as "sent, not answered".
        return context.stage === 'read'
          ? fail('timeout', `no reply within ${context.timeoutMs} ms`, partial)
          : fail('io', `sending timed out (${err.message})`);
      case 'PIPE':
        try {
          await device.handle.clearHalt(ENDPOINT_IN);
          return fail('io', `endpoint stalled, halt cleared (${err.message})`);
        } catch (clearErr) {
          this.logger.warn(`${this.description}: cannot clear the stall (${errorMessage(clearErr)}); resetting`);
          await this.resetAndDrop(device);
          return fail('disconnected', 'endpoint stalled and would not clear; device reset');
        }
      case 'OVERFLOW':
        this.consecutiveOverflows++;
        if (this.consecutiveOverflows < OVERFLOWS_BEFORE_RESET) {
          return fail('io', `the device sent an oversized report (${this.consecutiveOverflows} in a row)`, partial);
        }
        this.consecutiveOverflows = 0;
        this.logger.warn(`${this.description}: ${OVERFLOWS_BEFORE_RESET} oversized reports in a row; resetting`);
        await this.resetAndDrop(device);
        return fail(
          'disconnected',
          `${OVERFLOWS_BEFORE_RESET} oversized reports in a row (a known Cypress bridge fault); ` +
            'device reset, reconnecting on the next command',
        );
      case 'NO_DEVICE':
      case 'IO':
      case 'NOT_FOUND':
        this.drop(device);
        this.logger.warn(`${this.description}: device lost (${err.message}); reconnecting on the next command`);
        return fail('disconnected', `device lost (${err.message})`);
      default:
        return fail('io', err.message);
    }
  }

  private async ensureOpen(): Promise<OpenDevice> {
    if (this.device) return this.device;
    const device = await this.connect();
    this.device = device;
    this.consecutiveOverflows = 0;
    this.stopWatching ??= this.backend.watch((event, info) => this.onHotplug(event, info));
    this.logger.info(`opened ${this.description}`, { address: device.info.address });
    return device;
  }

  private async connect(): Promise<OpenDevice> {
    let entries: UsbDeviceEntry[];
    try {
      entries = await this.backend.list();
    } catch (err) {
      throw new TransportError('io', `${this.description}: cannot list USB devices: ${errorMessage(err)}`, undefined, {
        cause: err,
      });
    }
    const candidates = entries.filter((entry) => this.matches(entry));
    let firstFailure: TransportError | undefined;
    for (const entry of candidates) {
      let handle: UsbDeviceHandle;
      try {
        handle = entry.open();
      } catch (err) {
        firstFailure ??= this.openFailure(err, entry);
        continue;
      }
      try {
        if (this.serial !== undefined && (await handle.readStrings()).serial !== this.serial) {
          this.closeQuietly(handle);
          continue;
        }
        const detachedKernelDriver = this.claim(handle);
        const { vendorId, productId, bus, address } = entry;
        return { handle, info: { vendorId, productId, bus, address }, detachedKernelDriver };
      } catch (err) {
        this.closeQuietly(handle);
        firstFailure ??= this.openFailure(err, entry);
      }
    }
    throw (
      firstFailure ??
      new TransportError('not-found', `${this.description}: no such USB device (is the UPS plugged in? see lsusb)`)
    );
  }

  private matches(device: UsbDeviceInfo): boolean {
    return (
      device.vendorId === this.vendorId &&
      device.productId === this.productId &&
      (this.bus === undefined || Number(device.bus) === Number(this.bus))
    );
  }

  /** Takes interface 0 from usbhid (which binds the bridge) and claims it. Returns whether it detached. */
  private claim(handle: UsbDeviceHandle): boolean {
    let detached = false;
    const detach = () => {
      try {
        handle.detachKernelDriver(INTERFACE);
        detached = true;
      } catch (err) {
        // Nothing bound, or not allowed: the claim that follows reports what matters.
        this.logger.debug(`${this.description}: detaching the kernel driver: ${errorMessage(err)}`);
      }
    };
    try {
      if (handle.isKernelDriverActive(INTERFACE)) detach();
    } catch (err) {
      this.logger.debug(`${this.description}: cannot query the kernel driver: ${errorMessage(err)}`);
    }
    for (let retry = 0; ; retry++) {
      try {
        handle.claimInterface(INTERFACE);
        return detached;
      } catch (err) {
        if (retry >= CLAIM_RETRIES) throw err;
        detach();
      }
    }
  }

  private openFailure(err: unknown, device: UsbDeviceInfo): TransportError {
    const id = formatUsbId(device.vendorId, device.productId);
    const where = `USB device ${id} on bus ${device.bus}`;
    const reason = errorMessage(err);
    const fail = (kind: TransportErrorKind, text: string) => new TransportError(kind, text, undefined, { cause: err });
    switch (err instanceof UsbError ? err.code : 'OTHER') {
      case 'BUSY':
        return fail(
          'busy',
          `${where} is held by another driver (${reason}): most likely NUT (nutdrv_qx, blazer_usb or ` +
            'usbhid-ups) is still running; stop it (systemctl stop nut-driver.target nut-monitor) and retry',
        );
      case 'ACCESS': {
        const [vendor, product] = id.split(':');
        return fail(
          'access',
          `no permission to open ${where} (${reason}). Run as root, or add a udev rule such as ` +
            `/etc/udev/rules.d/62-pvepower-ups.rules: SUBSYSTEM=="usb", ATTRS{idVendor}=="${vendor}", ` +
            `ATTRS{idProduct}=="${product}", MODE="0660", GROUP="${serviceGroup()}" ` +
            'then run: udevadm control --reload-rules && udevadm trigger, and replug the UPS',
        );
      }
      case 'NO_DEVICE':
      case 'NOT_FOUND':
        return fail('not-found', `${where} disappeared while opening it (${reason})`);
      default:
        return fail('io', `cannot open ${where}: ${reason}`);
    }
  }

  private onHotplug(event: UsbHotplugEvent, info: UsbDeviceInfo): void {
    if (event === 'detach') {
      // Through the queue, so a transfer in flight finishes (with NO_DEVICE) before the handle goes.
      this.queue
        .run(async () => {
          const device = this.device;
          if (!device || device.info.bus !== info.bus || device.info.address !== info.address) return;
          this.logger.warn(`${this.description}: unplugged; reconnecting on the next command`);
          this.drop(device);
        })
        .catch((err: unknown) => this.logger.debug(`${this.description}: hotplug: ${errorMessage(err)}`));
    } else if (!this.device && this.matches(info)) {
      this.logger.info(`${this.description}: plugged in (bus ${info.bus}); reconnecting on the next command`);
    }
  }

  private async resetAndDrop(device: OpenDevice): Promise<void> {
    try {
      await device.handle.reset();
    } catch (err) {
      // After a reset the device often re-enumerates and the old handle errors; reopening copes.
      this.logger.debug(`${this.description}: reset: ${errorMessage(err)}`);
    }
    this.drop(device);
  }

  /** Forgets a device that is gone or reset; the next exchange finds it again. */
  private drop(device: OpenDevice): void {
    if (this.device === device) this.device = undefined;
    this.closeQuietly(device.handle);
  }

  private async release(): Promise<void> {
    this.stopWatching?.();
    this.stopWatching = undefined;
    const device = this.device;
    if (!device) return;
    this.device = undefined;
    try {
      await device.handle.releaseInterface(INTERFACE);
      if (device.detachedKernelDriver) device.handle.attachKernelDriver(INTERFACE);
    } catch (err) {
      this.logger.debug(`${this.description}: releasing: ${errorMessage(err)}`);
    }
    this.closeQuietly(device.handle);
    this.logger.info(`closed ${this.description}`);
  }

  private closeQuietly(handle: UsbDeviceHandle): void {
    try {
      handle.close();
    } catch (err) {
      this.logger.debug(`${this.description}: closing: ${errorMessage(err)}`);
    }
  }
}

/** What arrived before a timeout, without the NUL padding of the reports. */
function partialText(received: Buffer): string {
  return received.toString('latin1').replace(/\0/g, '');
}

/** The daemon's own user name, which on Debian is also its primary group: a sensible udev GROUP. */
function serviceGroup(): string {
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}
