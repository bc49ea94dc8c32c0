import type { Clock, TimerHandle } from '../../../src/core/clock.js';
import {
  formatBus,
  UsbError,
  type UsbBackend,
  type UsbControlSetup,
  type UsbDeviceEntry,
  type UsbDeviceHandle,
  type UsbDeviceInfo,
  type UsbErrorCode,
  type UsbHotplugEvent,
  type UsbStrings,
} from '../../../src/ups/transport/usb-backend.js';

/** What the fake device sends back: interrupt reports, or an error in place of one. */
export type FakeReport = Buffer | UsbErrorCode;

/** Splits reply text into 8-byte reports, the last NUL-padded, as the Cypress bridge sends them. */
export function reportsOf(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'latin1');
  const reports: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 8) {
    const report = Buffer.alloc(8);
    bytes.copy(report, 0, offset, offset + 8);
    reports.push(report);
  }
  return reports;
}

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

interface Reader {
  resolve: (report: Buffer) => void;
  reject: (err: UsbError) => void;
  timer: TimerHandle;
}

/**
 * A scripted 0665:5161 UPS behind the fake backend. Its clock paces read timeouts, so tests
 * drive it with a ManualClock.
 */
export class FakeUsbUps implements UsbDeviceInfo {
  readonly vendorId: number;
  readonly productId: number;
  bus: string;
  address: number;
  strings: UsbStrings;
  plugged = true;
  kernelDriverActive = true;
  /** Thrown by the next open() calls, one per call. */
  openErrors: UsbErrorCode[] = [];
  /** Thrown by the next claim attempts, one per attempt. */
  claimErrors: UsbErrorCode[] = [];
  /** Called for each complete command; its result is queued as the reply. */
  respond: (command: string) => FakeReport[] = () => [];
  /** Every SET_REPORT the host sent. */
  readonly controlTransfers: Array<{ setup: UsbControlSetup; data: Buffer }> = [];
  readonly commands: string[] = [];
  readonly calls = { open: 0, close: 0, claim: 0, detach: 0, attach: 0, release: 0, reset: 0, clearHalt: 0, reads: 0 };
  /** Host mistakes (a handle used after close, closed twice, overlapping reads): tests expect none. */
  readonly misuse: string[] = [];
  private queued: FakeReport[] = [];
  private written = Buffer.alloc(0);
  private reader: Reader | undefined;
  private openHandles = 0;

  constructor(
    private readonly clock: Clock,
    init: Partial<UsbDeviceInfo> & { strings?: UsbStrings } = {},
  ) {
    this.vendorId = init.vendorId ?? 0x0665;
    this.productId = init.productId ?? 0x5161;
    this.bus = init.bus ?? formatBus(3);
    this.address = init.address ?? 2;
    this.strings = init.strings ?? { manufacturer: 'INNO TECH', product: 'USB to Serial' };
  }

  info(): UsbDeviceInfo {
    return { vendorId: this.vendorId, productId: this.productId, bus: this.bus, address: this.address };
  }

  get isOpen(): boolean {
    return this.openHandles > 0;
  }

  /** Reports waiting in the endpoint, e.g. a late reply to an earlier command. */
  queueReports(...reports: FakeReport[]): void {
    this.queued.push(...reports);
    this.wakeReader();
  }

  get pendingReports(): number {
    return this.queued.length;
  }

  open(): UsbDeviceHandle {
    const openError = this.openErrors.shift();
    if (openError) throw new UsbError(openError, `open: LIBUSB ${openError}`);
    this.calls.open++;
    this.openHandles++;
    let closed = false;
    const live = () => {
      if (closed) {
        this.misuse.push('handle used after close');
        throw new UsbError('OTHER', 'handle used after close');
      }
      if (!this.plugged) throw new UsbError('NO_DEVICE', 'LIBUSB NO_DEVICE');
    };
    const device = this;
    return {
      async readStrings() {
        live();
        return { ...device.strings };
      },
      isKernelDriverActive() {
        live();
        return device.kernelDriverActive;
      },
      detachKernelDriver() {
        live();
        device.calls.detach++;
        if (!device.kernelDriverActive) throw new UsbError('NOT_FOUND', 'no kernel driver bound');
        device.kernelDriverActive = false;
      },
      attachKernelDriver() {
        live();
        device.calls.attach++;
        device.kernelDriverActive = true;
      },
      claimInterface(iface) {
        live();
        device.calls.claim++;
        if (iface !== 0) throw new UsbError('NOT_FOUND', `no interface ${iface}`);
        const claimError = device.claimErrors.shift();
        if (claimError) throw new UsbError(claimError, `claim: LIBUSB ${claimError}`);
        if (device.kernelDriverActive) throw new UsbError('BUSY', 'claim: usbhid holds the interface');
      },
      async releaseInterface() {
        live();
        device.calls.release++;
      },
      async controlTransferOut(setup, data) {
        live();
        device.controlTransfers.push({ setup, data: Buffer.from(data) });
        device.receive(data);
        return data.length;
      },
      interruptIn(endpoint, length, timeoutMs) {
        live();
        if (endpoint !== 0x81 || length !== 8) throw new UsbError('OTHER', `unexpected read ${endpoint}/${length}`);
        return device.read(timeoutMs);
      },
      async clearHalt() {
        live();
        device.calls.clearHalt++;
      },
      async reset() {
        live();
        device.calls.reset++;
        device.queued = [];
      },
      close() {
        if (closed) {
          device.misuse.push('closed twice');
          throw new UsbError('OTHER', 'closed twice');
        }
        closed = true;
        device.openHandles--;
        device.calls.close++;
      },
    };
  }

  unplugged(): void {
    this.plugged = false;
    this.queued = [];
    this.reader?.reject(new UsbError('NO_DEVICE', 'LIBUSB NO_DEVICE'));
  }

  /** Re-enumeration gives the device a new address; usbhid binds it again. */
  replugged(): void {
    this.plugged = true;
    this.address++;
    this.kernelDriverActive = true;
  }

  private receive(report: Buffer): void {
    this.written = Buffer.concat([this.written, report]);
    const end = this.written.indexOf(0x0d);
    if (end < 0) return;
    // NUL padding after the CR belongs to no command.
    const command = this.written.subarray(0, end + 1).toString('latin1');
    this.written = Buffer.alloc(0);
    this.commands.push(command);
    this.queueReports(...this.respond(command));
  }

  private read(timeoutMs: number): Promise<Buffer> {
    this.calls.reads++;
    if (this.reader) {
      this.misuse.push('two reads at once');
      return Promise.reject(new UsbError('OTHER', 'two reads at once'));
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.reader = undefined;
        reject(new UsbError('TIMEOUT', 'LIBUSB TIMEOUT'));
      }, timeoutMs);
      this.reader = {
        timer,
        resolve: (report) => {
          this.clock.clearTimeout(timer);
          this.reader = undefined;
          resolve(report);
        },
        reject: (err) => {
          this.clock.clearTimeout(timer);
          this.reader = undefined;
          reject(err);
        },
      };
      this.wakeReader();
    });
  }

  private wakeReader(): void {
    if (!this.reader) return;
    const next = this.queued.shift();
    if (next === undefined) return;
    if (typeof next === 'string') this.reader.reject(new UsbError(next, `LIBUSB ${next}`));
    else this.reader.resolve(next);
  }
}

export class FakeUsbBackend implements UsbBackend {
  readonly devices: FakeUsbUps[] = [];
  private readonly listeners = new Set<(event: UsbHotplugEvent, device: UsbDeviceInfo) => void>();

  constructor(private readonly clock: Clock) {}

  add(init: Partial<UsbDeviceInfo> & { strings?: UsbStrings } = {}): FakeUsbUps {
    const device = new FakeUsbUps(this.clock, init);
    this.devices.push(device);
    return device;
  }

  get watchers(): number {
    return this.listeners.size;
  }

  async list(): Promise<UsbDeviceEntry[]> {
    return this.devices
      .filter((device) => device.plugged)
      .map((device) => ({ ...device.info(), open: () => device.open() }));
  }

  watch(listener: (event: UsbHotplugEvent, device: UsbDeviceInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  unplug(device: FakeUsbUps): void {
    const info = device.info();
    device.unplugged();
    for (const listener of this.listeners) listener('detach', info);
  }

  replug(device: FakeUsbUps): void {
    device.replugged();
    for (const listener of this.listeners) listener('attach', device.info());
  }
}
