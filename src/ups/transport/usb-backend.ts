import type * as UsbPackage from 'usb';
import { errorMessage } from './framing.js';

/**
 * The few libusb operations the USB transport and scanner need, so they can be tested with a
 * fake device and so a later move to another USB library touches one file.
 */
export type UsbErrorCode =
  | 'TIMEOUT'
  | 'PIPE' // endpoint stalled
  | 'OVERFLOW' // the device sent more than was asked for
  | 'NO_DEVICE' // unplugged
  | 'IO'
  | 'BUSY' // another driver claimed the interface
  | 'ACCESS' // permission denied on /dev/bus/usb
  | 'NOT_FOUND' // e.g. the handle is stale after a reset
  | 'OTHER';

export class UsbError extends Error {
  constructor(
    readonly code: UsbErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UsbError';
  }
}

export interface UsbDeviceInfo {
  readonly vendorId: number;
  readonly productId: number;
  /** Bus number as lsusb prints it: "003". */
  readonly bus: string;
  readonly address: number;
}

export interface UsbStrings {
  manufacturer?: string;
  product?: string;
  serial?: string;
}

export interface UsbControlSetup {
  requestType: number;
  request: number;
  value: number;
  index: number;
}

/** An opened device. Synchronous methods throw UsbError; promises reject with UsbError. */
export interface UsbDeviceHandle {
  readStrings(): Promise<UsbStrings>;
  isKernelDriverActive(iface: number): boolean;
  detachKernelDriver(iface: number): void;
  attachKernelDriver(iface: number): void;
  claimInterface(iface: number): void;
  releaseInterface(iface: number): Promise<void>;
  /** Resolves with the number of bytes sent. */
  controlTransferOut(setup: UsbControlSetup, data: Buffer, timeoutMs: number): Promise<number>;
  /** One interrupt IN transfer; rejects with code TIMEOUT when nothing came within timeoutMs. */
  interruptIn(endpoint: number, length: number, timeoutMs: number): Promise<Buffer>;
  clearHalt(endpoint: number): Promise<void>;
  reset(): Promise<void>;
  close(): void;
}

export interface UsbDeviceEntry extends UsbDeviceInfo {
  open(): UsbDeviceHandle;
}

export type UsbHotplugEvent = 'attach' | 'detach';

export interface UsbBackend {
  /** Devices present now; [] when the system has no USB (containers, CI). */
  list(): Promise<UsbDeviceEntry[]>;
  /**
   * Calls `listener` on plug/unplug where the platform reports it. Never keeps the process
   * alive. Returns the unsubscribe function.
   */
  watch(listener: (event: UsbHotplugEvent, device: UsbDeviceInfo) => void): () => void;
}

export function formatBus(busNumber: number): string {
  return String(busNumber).padStart(3, '0');
}

export function formatUsbId(vendorId: number, productId: number): string {
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return `${hex(vendorId)}:${hex(productId)}`;
}

type UsbModule = typeof UsbPackage;
type UsbBindings = UsbModule['usb'];
type NodeUsbDevice = UsbPackage.Device;

/** The `usb` package (libusb), loaded on first use so serial-only setups never need it. */
export class NodeUsbBackend implements UsbBackend {
  private module: Promise<UsbModule> | undefined;

  async list(): Promise<UsbDeviceEntry[]> {
    const { usb } = await this.load();
    let devices: NodeUsbDevice[];
    try {
      devices = usb.getDeviceList();
    } catch (err) {
      throw toUsbError(usb, err, 'listing USB devices');
    }
    return devices.map((device) => {
      const info = deviceInfo(device);
      return { ...info, open: () => openDevice(usb, device) };
    });
  }

  watch(listener: (event: UsbHotplugEvent, device: UsbDeviceInfo) => void): () => void {
    let unsubscribe: (() => void) | undefined;
    let cancelled = false;
    this.load().then(
      ({ usb }) => {
        if (cancelled) return;
        const onAttach = (device: NodeUsbDevice) => listener('attach', deviceInfo(device));
        const onDetach = (device: NodeUsbDevice) => listener('detach', deviceInfo(device));
        try {
          // Without native hotplug, node-usb falls back to a polling timer that would keep the
          // process alive; exchange() re-finds the device anyway, so go without events.
          if (!usb._supportedHotplugEvents()) return;
          usb.on('attach', onAttach);
          usb.on('detach', onDetach);
          usb.unrefHotplugEvents();
          unsubscribe = () => {
            usb.off('attach', onAttach);
            usb.off('detach', onDetach);
          };
        } catch {
          // Hotplug is an optimisation only; without it reconnect-on-exchange is in charge.
          usb.off('attach', onAttach);
          usb.off('detach', onDetach);
        }
      },
      () => undefined, // list() reports a module that cannot load; events just never come
    );
    return () => {
      cancelled = true;
      unsubscribe?.();
    };
  }

  private load(): Promise<UsbModule> {
    this.module ??= import('usb').catch((err: unknown) => {
      this.module = undefined;
      throw new UsbError('OTHER', `cannot load the usb (libusb) module: ${errorMessage(err)}`, { cause: err });
    });
    return this.module;
  }
}

function deviceInfo(device: NodeUsbDevice): UsbDeviceInfo {
  return {
    vendorId: device.deviceDescriptor.idVendor,
    productId: device.deviceDescriptor.idProduct,
    bus: formatBus(device.busNumber),
    address: device.deviceAddress,
  };
}

function openDevice(usb: UsbBindings, device: NodeUsbDevice): UsbDeviceHandle {
  const call = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw toUsbError(usb, err, what);
    }
  };
  const callback = (what: string, start: (done: (err?: unknown) => void) => void): Promise<void> =>
    new Promise((resolve, reject) => {
      call(what, () => start((err) => (err ? reject(toUsbError(usb, err, what)) : resolve())));
    });
  const inEndpoint = (address: number): UsbPackage.InEndpoint => {
    const endpoint = device.interfaces?.flatMap((iface) => iface.endpoints).find((ep) => ep.address === address);
    if (!endpoint || endpoint.direction !== 'in') {
      throw new UsbError('NOT_FOUND', `the device has no IN endpoint 0x${address.toString(16)}`);
    }
    return endpoint as UsbPackage.InEndpoint;
  };
  const readString = (index: number): Promise<string | undefined> =>
    new Promise((resolve) => {
      // A device without string descriptors, or one we may not talk to, just has no names.
      try {
        device.getStringDescriptor(index, (err, value) => resolve(err ? undefined : value?.trim() || undefined));
      } catch {
        resolve(undefined);
      }
    });

  call('opening the device', () => device.open());
  return {
    async readStrings() {
      const d = device.deviceDescriptor;
      const [manufacturer, product, serial] = await Promise.all([
        readString(d.iManufacturer),
        readString(d.iProduct),
        readString(d.iSerialNumber),
      ]);
      return { manufacturer, product, serial };
    },
    isKernelDriverActive: (n) => call('checking the kernel driver', () => device.interface(n).isKernelDriverActive()),
    detachKernelDriver: (n) => call('detaching the kernel driver', () => device.interface(n).detachKernelDriver()),
    attachKernelDriver: (n) => call('re-attaching the kernel driver', () => device.interface(n).attachKernelDriver()),
    claimInterface: (n) => call(`claiming interface ${n}`, () => device.interface(n).claim()),
    releaseInterface: (n) => callback(`releasing interface ${n}`, (done) => device.interface(n).release(true, done)),
    controlTransferOut: (setup, data, timeoutMs) =>
      new Promise((resolve, reject) => {
        call('sending a control transfer', () => {
          device.timeout = timeoutMs;
          const { requestType, request, value, index } = setup;
          device.controlTransfer(requestType, request, value, index, data, (err, sent) => {
            if (err) reject(toUsbError(usb, err, 'control transfer'));
            else resolve(typeof sent === 'number' ? sent : data.length);
          });
        });
      }),
    interruptIn: (address, length, timeoutMs) =>
      new Promise((resolve, reject) => {
        call('reading the interrupt endpoint', () => {
          const endpoint = inEndpoint(address);
          endpoint.timeout = Math.max(1, Math.round(timeoutMs));
          endpoint.transfer(length, (err, data) =>
            err ? reject(toUsbError(usb, err, 'interrupt read')) : resolve(data ?? Buffer.alloc(0)),
          );
        });
      }),
    clearHalt: (address) => callback('clearing the endpoint halt', (done) => inEndpoint(address).clearHalt(done)),
    reset: () => callback('resetting the device', (done) => device.reset(done)),
    close: () => call('closing the device', () => device.close()),
  };
}

/**
 * libusb reports two kinds of numbers in `errno`: negative LIBUSB_ERROR_* codes from
 * synchronous calls, positive LIBUSB_TRANSFER_* statuses from completed transfers.
 */
function toUsbError(usb: UsbBindings, err: unknown, what: string): UsbError {
  if (err instanceof UsbError) return err;
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  const codes: Array<[number, UsbErrorCode]> = [
    [usb.LIBUSB_ERROR_TIMEOUT, 'TIMEOUT'],
    [usb.LIBUSB_TRANSFER_TIMED_OUT, 'TIMEOUT'],
    [usb.LIBUSB_ERROR_PIPE, 'PIPE'],
    [usb.LIBUSB_TRANSFER_STALL, 'PIPE'],
    [usb.LIBUSB_ERROR_OVERFLOW, 'OVERFLOW'],
    [usb.LIBUSB_TRANSFER_OVERFLOW, 'OVERFLOW'],
    [usb.LIBUSB_ERROR_NO_DEVICE, 'NO_DEVICE'],
    [usb.LIBUSB_TRANSFER_NO_DEVICE, 'NO_DEVICE'],
    [usb.LIBUSB_ERROR_IO, 'IO'],
    [usb.LIBUSB_TRANSFER_ERROR, 'IO'],
    [usb.LIBUSB_ERROR_BUSY, 'BUSY'],
    [usb.LIBUSB_ERROR_ACCESS, 'ACCESS'],
    [usb.LIBUSB_ERROR_NOT_FOUND, 'NOT_FOUND'],
  ];
  const code = typeof errno === 'number' ? (codes.find(([n]) => n === errno)?.[1] ?? 'OTHER') : 'OTHER';
  // Transfer statuses have no libusb_error_name() ("**UNKNOWN**"), so name them ourselves.
  const detail = code === 'OTHER' ? errorMessage(err) : `LIBUSB ${code}`;
  return new UsbError(code, `${what}: ${detail}`, { cause: err });
}
