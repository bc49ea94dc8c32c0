import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { qxSubdriversFor } from './scan.js';
import { SerialTransport, type CablePower } from './serial.js';
import type { Transport } from './transport.js';
import { formatUsbId, type UsbBackend } from './usb-backend.js';
import { CYPRESS_PRODUCT_ID, CYPRESS_VENDOR_ID, CypressUsbTransport } from './usb-cypress.js';

export { TransportError, type Transport, type TransportErrorKind, type ExchangeOptions } from './transport.js';
export { SerialTransport, CABLE_LINES, type CablePower } from './serial.js';
export { CypressUsbTransport, CYPRESS_PRODUCT_ID, CYPRESS_VENDOR_ID } from './usb-cypress.js';
export {
  scanSerial,
  scanUsb,
  QX_USB_IDS,
  type QxUsbId,
  type SerialScanEntry,
  type SerialScanResult,
  type UsbScanEntry,
} from './scan.js';

/** The UPS connection settings, with NUT's names and meanings. */
export interface TransportSpec {
  /** `auto` for USB, else a serial device path such as /dev/ttyUSB0. */
  port: string;
  /** USB match; giving either id selects USB, as in NUT. Defaults 0x0665 / 0x5161. */
  vendorId?: number;
  productId?: number;
  /** USB only: the bus as lsusb prints it ("003"). */
  bus?: string;
  /** USB only: the device's iSerialNumber. */
  serial?: string;
  /** Serial only: DTR/RTS levels (NUT `cablepower`). Default `normal`. */
  cablepower?: CablePower;
}

export interface TransportDeps {
  clock?: Clock;
  logger?: Logger;
  /** Tests substitute a fake; default is the `usb` package. */
  usbBackend?: UsbBackend;
}

/**
 * USB for `port: auto` or when USB ids are given (as NUT selects it), a serial port otherwise.
 * Throws for settings that could never work, so the mistake shows at startup.
 */
export function createTransport(spec: TransportSpec, deps: TransportDeps = {}): Transport {
  const { clock, logger } = deps;
  if (spec.port === 'auto' || spec.vendorId !== undefined || spec.productId !== undefined) {
    const vendorId = spec.vendorId ?? CYPRESS_VENDOR_ID;
    const productId = spec.productId ?? CYPRESS_PRODUCT_ID;
    const subdrivers = qxSubdriversFor(vendorId, productId);
    // An id NUT drives with another framing would only ever time out.
    if (subdrivers.length > 0 && !subdrivers.includes('cypress')) {
      throw new Error(
        `USB ${formatUsbId(vendorId, productId)} needs NUT's ${subdrivers.join('/')} subdriver; ` +
          'pvepower speaks only the cypress framing (e.g. 0665:5161): use NUT for this UPS',
      );
    }
    return new CypressUsbTransport({
      vendorId,
      productId,
      bus: spec.bus,
      serial: spec.serial,
      backend: deps.usbBackend,
      clock,
      logger,
    });
  }
  if (spec.port.trim() === '') throw new Error('the UPS port is empty: give "auto" for USB or a serial device path');
  if (spec.bus !== undefined || spec.serial !== undefined) {
    throw new Error(`bus and serial select a USB device, but port is ${spec.port}: set port to "auto" for USB`);
  }
  return new SerialTransport({ path: spec.port, cablepower: spec.cablepower, clock, logger });
}
