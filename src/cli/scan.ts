import { scanSerial, scanUsb, type UsbScanEntry } from '../ups/transport/scan.js';
import type { CliIo } from '../core/cli-io.js';
import { EXIT_FAILURE, EXIT_OK } from '../core/cli-io.js';

/**
 * `pvepower scan`: USB devices that NUT's nutdrv_qx id table knows, and serial ports, each with a
 * ready `ups:` block for pvepower.yaml (as nut-scanner prints ups.conf sections).
 */
export async function scanCommand(io: CliIo): Promise<number> {
  let usb: UsbScanEntry[] = [];
  try {
    usb = await scanUsb();
  } catch (err) {
    io.err(`pvepower scan: cannot list USB devices: ${(err as Error).message}\n`);
  }
  const serial = await scanSerial();
  if (serial.warning) io.err(`pvepower scan: ${serial.warning}\n`);

  for (const dev of usb) io.out(usbBlock(dev) + '\n');
  if (usb.length === 0) io.out('# no USB UPS from NUT\'s Megatec/Q* id table found\n\n');
  io.out(`# serial ports (${serial.source === 'udev' ? 'from udev' : 'device nodes'}); a Megatec UPS on one of them:\n`);
  for (const port of serial.ports) {
    const about = [port.manufacturer, port.vendorId && port.productId ? `${port.vendorId}:${port.productId}` : undefined]
      .filter(Boolean)
      .join(' ');
    io.out(`#   ${port.path}${about ? `  (${about})` : ''}\n`);
  }
  if (serial.ports.length > 0) io.out(`# ups:\n#   driver: megatec\n#   port: ${serial.ports[0]!.path}\n`);
  return usb.length > 0 || serial.ports.length > 0 ? EXIT_OK : EXIT_FAILURE;
}

function usbBlock(dev: UsbScanEntry): string {
  const lines = [
    `# ${dev.id} ${[dev.manufacturer, dev.product].filter(Boolean).join(' ') || dev.models} on bus ${dev.bus}` +
      ` (NUT subdriver ${dev.subdriver})`,
  ];
  if (dev.note) lines.push(`# note: ${dev.note}`);
  if (!dev.supported) {
    lines.push(`# not supported by pvepower's USB transport (it speaks the cypress framing only)`);
    return lines.join('\n') + '\n';
  }
  lines.push(
    'ups:',
    '  driver: megatec',
    '  port: auto',
    `  vendorid: "${dev.id.slice(0, 4)}"`,
    `  productid: "${dev.id.slice(5)}"`,
    `  bus: "${dev.bus}"`,
  );
  if (dev.serial) lines.push(`  serial: "${dev.serial}"`);
  return lines.join('\n') + '\n';
}
