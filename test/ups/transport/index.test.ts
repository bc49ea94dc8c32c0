import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../helpers/manual-clock.js';
import { createTransport, CypressUsbTransport, SerialTransport } from '../../../src/ups/transport/index.js';
import { FakeUsbBackend, reportsOf } from './fake-usb.js';

describe('createTransport', () => {
  it('picks USB for port auto', () => {
    const transport = createTransport({ port: 'auto', bus: '003' });
    assert.ok(transport instanceof CypressUsbTransport);
    assert.equal(transport.description, 'usb 0665:5161 bus 003');
  });

  it('picks USB when ids are given, as NUT does', () => {
    const transport = createTransport({ port: '/dev/ttyUSB0', vendorId: 0x0f03, productId: 0x0001 });
    assert.ok(transport instanceof CypressUsbTransport);
    assert.equal(transport.description, 'usb 0f03:0001');
  });

  it('picks a serial port for a device path', () => {
    const transport = createTransport({ port: '/dev/ttyS0', cablepower: 'reverse' });
    assert.ok(transport instanceof SerialTransport);
    assert.equal(transport.description, 'serial /dev/ttyS0');
  });

  it('refuses ids that NUT drives with another framing', () => {
    assert.throws(() => createTransport({ port: 'auto', vendorId: 0x0001, productId: 0x0000 }), /krauler/);
    assert.throws(() => createTransport({ port: 'auto', vendorId: 0x06da, productId: 0x0003 }), /ippon/);
    assert.ok(createTransport({ port: 'auto', vendorId: 0x06da, productId: 0x0002 }) instanceof CypressUsbTransport);
    assert.ok(createTransport({ port: 'auto', vendorId: 0x1234, productId: 0x5678 }) instanceof CypressUsbTransport);
  });

  it('refuses contradicting settings', () => {
    assert.throws(() => createTransport({ port: '' }), /port is empty/);
    assert.throws(() => createTransport({ port: '/dev/ttyUSB0', bus: '003' }), /set port to "auto"/);
  });

  it('passes clock and USB backend through', async () => {
    const clock = new ManualClock();
    const backend = new FakeUsbBackend(clock);
    backend.add().respond = () => reportsOf('(ok\r');
    const transport = createTransport({ port: 'auto' }, { clock, usbBackend: backend });
    const reply = transport.exchange('Q1\r');
    await clock.advance(100);
    assert.equal(await reply, '(ok');
    await transport.close();
  });
});
