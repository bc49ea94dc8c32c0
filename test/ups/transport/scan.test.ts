import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../helpers/manual-clock.js';
import { matchQxUsbId, qxSubdriversFor, scanSerial, scanUsb } from '../../../src/ups/transport/scan.js';
import { FakeUsbBackend } from './fake-usb.js';

describe('scanUsb', () => {
  it('lists the devices NUT nutdrv_qx knows, with the subdriver NUT would pick', async () => {
    const backend = new FakeUsbBackend(new ManualClock());
    const ippon = backend.add({ address: 2, strings: { manufacturer: 'INNO TECH', product: 'USB to Serial', serial: '' } });
    const hub = backend.add({ vendorId: 0x1d6b, productId: 0x0002, bus: '001', address: 1 });
    backend.add({ vendorId: 0x0001, productId: 0x0000, address: 3, strings: { manufacturer: 'MEC', product: 'MEC0003' } });
    backend.add({ vendorId: 0x0001, productId: 0x0000, address: 4, strings: { product: 'mec0003' } });
    backend.add({ vendorId: 0x0001, productId: 0x0000, address: 5, strings: {} });
    backend.add({
      vendorId: 0x06da,
      productId: 0x0002,
      address: 6,
      strings: { manufacturer: 'Phoenixtec Power', product: 'USB Cable (V2.00)' },
    });
    const locked = backend.add({ vendorId: 0x06da, productId: 0x0002, address: 7 });
    locked.openErrors = ['ACCESS'];

    const found = await scanUsb({ backend });
    assert.deepEqual(
      found.map((d) => [d.id, d.address, d.subdriver, d.supported]),
      [
        ['0665:5161', 2, 'cypress', true],
        ['0001:0000', 3, 'fabula', false],
        ['0001:0000', 4, 'hunnox', false],
        ['0001:0000', 5, 'krauler', false],
        ['06da:0002', 6, 'phoenixtec', false],
        ['06da:0002', 7, 'cypress', true],
      ],
    );
    assert.deepEqual(
      { ...found[0] },
      {
        id: '0665:5161',
        vendorId: 0x0665,
        productId: 0x5161,
        bus: '003',
        address: 2,
        manufacturer: 'INNO TECH',
        product: 'USB to Serial',
        serial: '',
        subdriver: 'cypress',
        models: 'Belkin F6C1200-UNV, Voltronic Power, Ippon Back Basic…',
        supported: true,
      },
    );
    assert.match(found[5]!.note ?? '', /cannot read its strings: open: LIBUSB ACCESS/);
    assert.equal(hub.calls.open, 0, 'unknown devices are not opened');
    for (const device of backend.devices) assert.equal(device.isOpen, false);
    assert.equal(ippon.calls.claim, 0, 'scanning never claims');
  });

  it('runs against the real usb package without throwing', async () => {
    assert.ok(Array.isArray(await scanUsb()));
  });
});

describe('the nutdrv_qx id table', () => {
  it('maps the ids from nut.md', () => {
    assert.deepEqual(qxSubdriversFor(0x0665, 0x5161), ['cypress']);
    assert.deepEqual(qxSubdriversFor(0x06da, 0x0003), ['ippon']);
    assert.deepEqual(qxSubdriversFor(0x0f03, 0x0001), ['cypress']);
    assert.deepEqual(qxSubdriversFor(0xffff, 0x0000), ['ablerex']);
    assert.deepEqual(qxSubdriversFor(0x05b8, 0x0000), ['cypress']);
    assert.deepEqual(qxSubdriversFor(0x14f0, 0x00c9), ['phoenix']);
    assert.deepEqual(qxSubdriversFor(0x0001, 0x0000), ['fabula', 'hunnox', 'fuji', 'krauler', 'snr']);
    assert.deepEqual(qxSubdriversFor(0x046d, 0xc52b), []);
  });

  it('matches strings case-insensitively and takes the first matching row', () => {
    assert.equal(matchQxUsbId(0x0001, 0x0000, { manufacturer: 'atcl for ups', product: 'ATCL FOR UPS' })?.subdriver, 'fuji');
    assert.equal(matchQxUsbId(0x0001, 0x0000, { manufacturer: 'Other', product: 'MEC0003' })?.subdriver, 'hunnox');
    assert.equal(matchQxUsbId(0x0001, 0x0000, {})?.subdriver, 'krauler');
    assert.equal(matchQxUsbId(0x06da, 0x0002, { manufacturer: 'Phoenixtec Power' })?.subdriver, 'cypress');
  });
});

describe('scanSerial', () => {
  it('uses the udev listing when it works', async () => {
    const result = await scanSerial({ list: async () => [{ path: '/dev/ttyUSB0', vendorId: '067b' }] });
    assert.deepEqual(result, { ports: [{ path: '/dev/ttyUSB0', vendorId: '067b' }], source: 'udev' });
  });

  it('falls back to device nodes when udevadm is missing', async () => {
    const dev = await mkdtemp(join(tmpdir(), 'pvepower-dev-'));
    try {
      for (const name of ['ttyS10', 'ttyS2', 'console', 'ttyUSB0', 'tty', 'ttyACM1', 'ttyprintk', 'ttyUSB10', 'ttyUSB9']) {
        await writeFile(join(dev, name), '');
      }
      const result = await scanSerial({
        list: () => Promise.reject(new Error('spawn udevadm ENOENT')),
        devDir: dev,
      });
      assert.equal(result.source, 'dev');
      assert.match(result.warning ?? '', /udevadm ENOENT/);
      assert.deepEqual(
        result.ports.map((p) => p.path),
        ['ttyUSB0', 'ttyUSB9', 'ttyUSB10', 'ttyACM1', 'ttyS2', 'ttyS10'].map((name) => join(dev, name)),
      );
    } finally {
      await rm(dev, { recursive: true });
    }
  });

  it('falls back when udev lists nothing', async () => {
    const result = await scanSerial({ list: async () => [], devDir: '/nonexistent-pvepower' });
    assert.deepEqual(result, { ports: [], source: 'dev', warning: 'udev lists no serial ports; showing device nodes instead' });
  });

  it('never throws with the real SerialPort.list()', async () => {
    const result = await scanSerial();
    assert.ok(result.source === 'udev' || result.source === 'dev');
    assert.ok(result.ports.every((p) => p.path.startsWith('/dev/')));
  });
});
