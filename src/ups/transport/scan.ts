import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { errorMessage } from './framing.js';
import { formatUsbId, NodeUsbBackend, type UsbBackend, type UsbStrings } from './usb-backend.js';

/** One row of NUT's nutdrv_qx `qx_usb_id` table: USB ids (and optional strings) → subdriver. */
export interface QxUsbId {
  vendorId: number;
  productId: number;
  /** iManufacturer must equal this (case-insensitive) when set. */
  manufacturer?: string;
  /** iProduct must equal this (case-insensitive) when set. */
  product?: string;
  /** NUT's USB subdriver; pvepower speaks `cypress` only. */
  subdriver: string;
  models: string;
}

/**
 * NUT drivers/nutdrv_qx.c `qx_usb_id`, in its order: the first matching row wins, so the
 * SNR row is shadowed by Krauler exactly as in NUT (kept so the table compares 1:1).
 */
export const QX_USB_IDS: readonly QxUsbId[] = [
  { vendorId: 0x05b8, productId: 0x0000, subdriver: 'cypress', models: 'Agiler UPS' },
  { vendorId: 0xffff, productId: 0x0000, subdriver: 'ablerex', models: 'Ablerex 625L USB' },
  { vendorId: 0x1cb0, productId: 0x0035, subdriver: 'krauler', models: 'Legrand Daker DK / DK Plus' },
  {
    vendorId: 0x0665,
    productId: 0x5161,
    subdriver: 'cypress',
    models: 'Belkin F6C1200-UNV, Voltronic Power, Ippon Back Basic…',
  },
  {
    vendorId: 0x06da,
    productId: 0x0002,
    manufacturer: 'Phoenixtec Power',
    product: 'USB Cable (V2.00)',
    subdriver: 'phoenixtec',
    models: 'Masterguard A Series',
  },
  { vendorId: 0x06da, productId: 0x0002, subdriver: 'cypress', models: 'Online Yunto YQ450' },
  { vendorId: 0x06da, productId: 0x0003, subdriver: 'ippon', models: 'Mustek Powermust' },
  { vendorId: 0x06da, productId: 0x0004, subdriver: 'cypress', models: 'Phoenixtec Innova 3/1 T' },
  { vendorId: 0x06da, productId: 0x0005, subdriver: 'cypress', models: 'Phoenixtec Innova RT' },
  { vendorId: 0x06da, productId: 0x0201, subdriver: 'cypress', models: 'Phoenixtec Innova T' },
  { vendorId: 0x06da, productId: 0x0601, subdriver: 'phoenix', models: 'Online Zinto A' },
  { vendorId: 0x0f03, productId: 0x0001, subdriver: 'cypress', models: 'Unitek Alpha 1200Sx' },
  { vendorId: 0x14f0, productId: 0x00c9, subdriver: 'phoenix', models: 'GE EP series' },
  { vendorId: 0x0483, productId: 0x0035, subdriver: 'sgs', models: 'TS Shara' },
  {
    vendorId: 0x0001,
    productId: 0x0000,
    manufacturer: 'MEC',
    product: 'MEC0003',
    subdriver: 'fabula',
    models: 'Fideltronik/MEC LUPUS 500 USB',
  },
  { vendorId: 0x0001, productId: 0x0000, product: 'MEC0003', subdriver: 'hunnox', models: 'Hunnox HNX 850, Powercool' },
  {
    vendorId: 0x0001,
    productId: 0x0000,
    manufacturer: 'ATCL FOR UPS',
    product: 'ATCL FOR UPS',
    subdriver: 'fuji',
    models: 'Fuji UPSes',
  },
  { vendorId: 0x0001, productId: 0x0000, subdriver: 'krauler', models: 'Krauler UP-M500VA' },
  { vendorId: 0x0001, productId: 0x0000, product: 'MEC0003', subdriver: 'snr', models: 'SNR-UPS-LID-XXXX' },
  { vendorId: 0x0925, productId: 0x1234, subdriver: 'armac', models: 'Armac, Richcomm-like units' },
];

/** The subdrivers NUT may pick for these ids (several when strings decide). */
export function qxSubdriversFor(vendorId: number, productId: number): string[] {
  const rows = QX_USB_IDS.filter((id) => id.vendorId === vendorId && id.productId === productId);
  return [...new Set(rows.map((id) => id.subdriver))];
}

/** NUT's qx_is_usb_device_supported: ids must match, and the strings where the row names them. */
export function matchQxUsbId(vendorId: number, productId: number, strings: UsbStrings): QxUsbId | undefined {
  const same = (wanted: string | undefined, actual: string | undefined) =>
    wanted === undefined || (actual !== undefined && wanted.toLowerCase() === actual.toLowerCase());
  return QX_USB_IDS.find(
    (id) =>
      id.vendorId === vendorId &&
      id.productId === productId &&
      same(id.manufacturer, strings.manufacturer) &&
      same(id.product, strings.product),
  );
}

export interface UsbScanEntry extends UsbStrings {
  /** `0665:5161` */
  id: string;
  vendorId: number;
  productId: number;
  bus: string;
  address: number;
  subdriver: string;
  models: string;
  /** pvepower's USB transport speaks NUT's `cypress` framing only. */
  supported: boolean;
  /** Why the strings are missing, e.g. no permission to open the device. */
  note?: string;
}

/** USB devices that NUT's nutdrv_qx would drive, with their strings and bus. */
export async function scanUsb(options: { backend?: UsbBackend } = {}): Promise<UsbScanEntry[]> {
  const backend = options.backend ?? new NodeUsbBackend();
  const known = (await backend.list()).filter((entry) => qxSubdriversFor(entry.vendorId, entry.productId).length > 0);
  const found: UsbScanEntry[] = [];
  for (const entry of known) {
    let strings: UsbStrings = {};
    let note: string | undefined;
    try {
      const handle = entry.open();
      try {
        strings = await handle.readStrings();
      } finally {
        handle.close();
      }
    } catch (err) {
      note = `cannot read its strings: ${errorMessage(err)}`;
    }
    // Unread strings still match: every id in the table has a row that names no strings.
    const match = matchQxUsbId(entry.vendorId, entry.productId, strings);
    if (!match) continue;
    found.push({
      id: formatUsbId(entry.vendorId, entry.productId),
      vendorId: entry.vendorId,
      productId: entry.productId,
      bus: entry.bus,
      address: entry.address,
      ...strings,
      subdriver: match.subdriver,
      models: match.models,
      supported: match.subdriver === 'cypress',
      ...(note === undefined ? {} : { note }),
    });
  }
  return found;
}

export interface SerialScanEntry {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
}

export interface SerialScanResult {
  ports: SerialScanEntry[];
  /** `udev`: from SerialPort.list(); `dev`: device nodes found in /dev. */
  source: 'udev' | 'dev';
  /** Why the udev listing was not used. */
  warning?: string;
}

export interface SerialScanOptions {
  /** Defaults to SerialPort.list() (which runs udevadm on Linux). */
  list?: () => Promise<SerialScanEntry[]>;
  /** Where the fallback looks for ttyUSB*, ttyACM*, ttyS*. Default /dev. */
  devDir?: string;
}

const DEVICE_NODE = /^tty(USB|ACM|S)(\d+)$/;
const NODE_ORDER = ['USB', 'ACM', 'S'];

/** Serial ports, from udev when it answers, else from the device nodes in /dev. */
export async function scanSerial(options: SerialScanOptions = {}): Promise<SerialScanResult> {
  const list = options.list ?? listWithSerialPort;
  let warning: string;
  try {
    const ports = await list();
    if (ports.length > 0) return { ports, source: 'udev' };
    warning = 'udev lists no serial ports; showing device nodes instead';
  } catch (err) {
    // Containers and minimal hosts lack udevadm: SerialPort.list() rejects with ENOENT.
    warning = `listing serial ports through udev failed (${errorMessage(err)}); showing device nodes instead`;
  }
  return { ports: await listDeviceNodes(options.devDir ?? '/dev'), source: 'dev', warning };
}

async function listWithSerialPort(): Promise<SerialScanEntry[]> {
  const ports = await SerialPort.list();
  return ports.map(({ path, manufacturer, serialNumber, vendorId, productId }) => ({
    path,
    ...(manufacturer === undefined ? {} : { manufacturer }),
    ...(serialNumber === undefined ? {} : { serialNumber }),
    ...(vendorId === undefined ? {} : { vendorId }),
    ...(productId === undefined ? {} : { productId }),
  }));
}

/** ttyUSB*, ttyACM* then ttyS*, each in numeric order. */
async function listDeviceNodes(devDir: string): Promise<SerialScanEntry[]> {
  let names: string[];
  try {
    names = await readdir(devDir);
  } catch {
    return [];
  }
  const rank = (name: string): [number, number] => {
    const [, kind, number] = DEVICE_NODE.exec(name)!;
    return [NODE_ORDER.indexOf(kind!), Number(number)];
  };
  return names
    .filter((name) => DEVICE_NODE.test(name))
    .sort((a, b) => {
      const [kindA, numberA] = rank(a);
      const [kindB, numberB] = rank(b);
      return kindA - kindB || numberA - numberB;
    })
    .map((name) => ({ path: join(devDir, name) }));
}
