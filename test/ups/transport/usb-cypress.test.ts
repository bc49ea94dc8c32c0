import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../helpers/manual-clock.js';
import { CypressUsbTransport } from '../../../src/ups/transport/usb-cypress.js';
import { TransportError } from '../../../src/ups/transport/transport.js';
import { NodeUsbBackend } from '../../../src/ups/transport/usb-backend.js';
import { FakeUsbBackend, hex, reportsOf, type FakeUsbUps } from './fake-usb.js';

const Q1_REPLY = '(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000';
// 0665:5161 trace from NUT issue #1279 (nut.md §6).
const TRACE_REPLY = '(243.0 243.2 239.7 020 50.0 2.26 28.8 00000001';

/** Moves the manual clock until `promise` settles (read timeouts run on it). */
async function drive<T>(clock: ManualClock, promise: Promise<T>, limitMs = 20_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => undefined);
  for (let waited = 0; !settled; waited += 10) {
    assert.ok(waited < limitMs, `still pending after ${limitMs} ms of clock time`);
    await clock.advance(10);
  }
  return tracked;
}

async function rejectsWith(
  clock: ManualClock,
  promise: Promise<unknown>,
  kind: TransportError['kind'],
): Promise<TransportError> {
  const err = await drive(clock, promise).then(
    () => assert.fail(`expected a ${kind} TransportError`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TransportError, `expected TransportError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err;
}

describe('CypressUsbTransport', () => {
  let clock: ManualClock;
  let backend: FakeUsbBackend;
  let ups: FakeUsbUps;
  let transport: CypressUsbTransport;

  const answersQ1 = (command: string) => (command === 'Q1\r' ? reportsOf(`${Q1_REPLY}\r`) : []);

  beforeEach(() => {
    clock = new ManualClock();
    backend = new FakeUsbBackend(clock);
    ups = backend.add();
    ups.respond = answersQ1;
    transport = new CypressUsbTransport({ backend, clock });
  });

  afterEach(async () => {
    await drive(clock, transport.close());
    assert.deepEqual(ups.misuse, []);
    assert.equal(ups.isOpen, false, 'close() releases the device');
    assert.equal(backend.watchers, 0, 'close() stops watching hotplug events');
  });

  describe('framing', () => {
    it('sends Q1\\r as exactly one SET_REPORT 51 31 0D 00 00 00 00 00', async () => {
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.equal(ups.controlTransfers.length, 1);
      const [transfer] = ups.controlTransfers;
      assert.deepEqual(transfer!.setup, { requestType: 0x21, request: 0x09, value: 0x0200, index: 0 });
      assert.deepEqual(transfer!.data, hex('51 31 0D 00 00 00 00 00'));
    });

    it('sends S.5R0003\\r as two reports and times out when the UPS stays silent', async () => {
      const err = await rejectsWith(clock, transport.exchange('S.5R0003\r', { timeoutMs: 500 }), 'timeout');
      assert.equal(err.partial, '');
      assert.deepEqual(
        ups.controlTransfers.map((t) => t.data),
        [Buffer.from('S.5R0003', 'latin1'), hex('0D 00 00 00 00 00 00 00')],
      );
      assert.deepEqual(ups.commands, ['S.5R0003\r']);
    });

    it('reassembles the 0665:5161 trace reply that ends in 30 30 30 30 30 31 0d 00', async () => {
      const reports = reportsOf(`${TRACE_REPLY}\r`);
      assert.equal(reports.length, 6);
      assert.deepEqual(reports.at(-1), hex('30 30 30 30 30 31 0d 00'));
      ups.respond = () => reports;
      assert.equal(await drive(clock, transport.exchange('Q1\r')), TRACE_REPLY);
    });

    it('drops what follows the CR and copes with short reports', async () => {
      ups.respond = () => [hex('28 32 34 35 2e'), Buffer.from('0 000 1', 'latin1'), hex('31 0d 00 ff 41 42 43 44')];
      assert.equal(await drive(clock, transport.exchange('Q1\r')), '(245.0 000 11');
      // The tail of the last report is not left to pollute the next reply.
      ups.respond = answersQ1;
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
    });

    it('reports a timeout with the partial reply when no CR arrives in time', async () => {
      ups.respond = () => [Buffer.from('(226.0 1', 'latin1')];
      const started = clock.now();
      const err = await rejectsWith(clock, transport.exchange('Q1\r', { timeoutMs: 300 }), 'timeout');
      assert.equal(err.partial, '(226.0 1');
      assert.match(err.message, /no reply within 300 ms/);
      // Draining takes a short read first; the reply deadline is the caller's.
      assert.ok(clock.now() - started < 400, `took ${clock.now() - started} ms`);
    });

    it('gives up on a reply that never ends', async () => {
      ups.respond = () => Array.from({ length: 80 }, () => Buffer.from('XXXXXXXX'));
      const err = await rejectsWith(clock, transport.exchange('Q1\r'), 'io');
      assert.match(err.message, /no CR in 512 bytes/);
      assert.equal(err.partial, 'X'.repeat(512));
    });

    it('refuses a command without its CR', () => {
      assert.throws(() => transport.exchange('Q1'), TypeError);
    });
  });

  describe('stale reports', () => {
    it('drains reports queued before the command', async () => {
      ups.queueReports(...reportsOf('(000.0 000.0 000.0 000 00.0 00.0 00.0 10000000\r'), Buffer.from('half a r'));
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.equal(ups.pendingReports, 0);
    });

    it('stops draining after a bounded number of reports', async () => {
      let readsBeforeCommand = -1;
      ups.respond = () => {
        readsBeforeCommand = ups.calls.reads;
        return [];
      };
      ups.queueReports(...Array.from({ length: 100 }, () => Buffer.from('ZZZZZZZZ')));
      await rejectsWith(clock, transport.exchange('Q1\r'), 'io');
      assert.equal(readsBeforeCommand, 16);
    });
  });

  describe('errors and recovery', () => {
    it('resets the device after 3 consecutive overflows, then reconnects', async () => {
      ups.respond = () => ['OVERFLOW'];
      await rejectsWith(clock, transport.exchange('Q1\r'), 'io');
      await rejectsWith(clock, transport.exchange('Q1\r'), 'io');
      assert.equal(ups.calls.reset, 0);
      const err = await rejectsWith(clock, transport.exchange('Q1\r'), 'disconnected');
      assert.match(err.message, /3 oversized reports in a row/);
      assert.equal(ups.calls.reset, 1);
      assert.equal(ups.isOpen, false);

      ups.respond = answersQ1;
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.equal(ups.calls.open, 2);
    });

    it('counts only consecutive overflows', async () => {
      const script = ['overflow', 'overflow', 'reply', 'overflow', 'overflow', 'silence', 'overflow', 'overflow'];
      for (const step of script) {
        ups.respond = step === 'reply' ? answersQ1 : step === 'silence' ? () => [] : () => ['OVERFLOW'];
        const exchange = transport.exchange('Q1\r');
        if (step === 'reply') assert.equal(await drive(clock, exchange), Q1_REPLY);
        else await rejectsWith(clock, exchange, step === 'silence' ? 'timeout' : 'io');
      }
      assert.equal(ups.calls.reset, 0);
    });

    it('clears a stalled endpoint and carries on', async () => {
      ups.respond = () => ['PIPE'];
      await rejectsWith(clock, transport.exchange('Q1\r'), 'io');
      assert.equal(ups.calls.clearHalt, 1);
      ups.respond = answersQ1;
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.equal(ups.calls.open, 1);
    });

    it('reconnects after an unplug seen only as NO_DEVICE', async () => {
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      ups.respond = () => {
        ups.unplugged();
        return [];
      };
      await rejectsWith(clock, transport.exchange('Q1\r'), 'disconnected');
      assert.equal(ups.isOpen, false);
      await rejectsWith(clock, transport.exchange('Q1\r'), 'not-found');

      ups.replugged();
      ups.respond = answersQ1;
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.equal(ups.calls.open, 2);
    });

    it('drops the handle on a hotplug detach and finds the replugged device', async () => {
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      const firstAddress = ups.address;
      backend.unplug(ups);
      await clock.advance(0);
      assert.equal(ups.isOpen, false, 'the handle of an unplugged device is closed at once');
      await rejectsWith(clock, transport.exchange('Q1\r'), 'not-found');

      backend.replug(ups);
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
      assert.notEqual(ups.address, firstAddress);
      assert.equal(ups.calls.detach, 2, 'usbhid is detached again after the replug');
    });

    it('ignores the detach of another device', async () => {
      const other = backend.add({ vendorId: 0x046d, productId: 0xc52b, address: 9 });
      await drive(clock, transport.open());
      backend.unplug(other);
      await clock.advance(0);
      assert.equal(ups.isOpen, true);
      assert.equal(await drive(clock, transport.exchange('Q1\r')), Q1_REPLY);
    });

    it('runs concurrent exchanges one at a time', async () => {
      ups.respond = (command) => reportsOf(`${command.trim()}-reply\r`);
      const replies = await drive(
        clock,
        Promise.all([transport.exchange('Q1\r'), transport.exchange('F\r'), transport.exchange('I\r')]),
      );
      assert.deepEqual(replies, ['Q1-reply', 'F-reply', 'I-reply']);
      assert.deepEqual(ups.commands, ['Q1\r', 'F\r', 'I\r']);
    });
  });

  describe('opening', () => {
    it('detaches usbhid, claims interface 0 and gives usbhid back on close', async () => {
      await drive(clock, transport.open());
      assert.equal(ups.calls.detach, 1);
      assert.equal(ups.calls.claim, 1);
      assert.equal(transport.description, 'usb 0665:5161 bus 003');
      await drive(clock, transport.close());
      assert.equal(ups.calls.release, 1);
      assert.equal(ups.kernelDriverActive, true);
    });

    it('retries the claim, detaching between attempts', async () => {
      ups.claimErrors = ['BUSY', 'BUSY'];
      await drive(clock, transport.open());
      assert.equal(ups.calls.claim, 3);
      assert.equal(ups.isOpen, true);
    });

    it('names NUT when another driver keeps the device busy', async () => {
      ups.claimErrors = ['BUSY', 'BUSY', 'BUSY', 'BUSY'];
      const err = await rejectsWith(clock, transport.open(), 'busy');
      assert.match(err.message, /nutdrv_qx/);
      assert.match(err.message, /usbhid-ups/);
      assert.equal(ups.calls.claim, 4, 'one claim and 3 retries');
      assert.equal(ups.isOpen, false);
    });

    it('suggests the udev rule on ACCESS', async () => {
      ups.openErrors = ['ACCESS'];
      const err = await rejectsWith(clock, transport.open(), 'access');
      assert.ok(
        err.message.includes('SUBSYSTEM=="usb", ATTRS{idVendor}=="0665", ATTRS{idProduct}=="5161", MODE="0660", GROUP="'),
        err.message,
      );
    });

    it('reports not-found when no device matches', async () => {
      const onOtherBus = new CypressUsbTransport({ backend, clock, bus: '001' });
      const err = await rejectsWith(clock, onOtherBus.open(), 'not-found');
      assert.match(err.message, /usb 0665:5161 bus 001/);
      await onOtherBus.close();
    });

    it('picks the device by bus or by serial number', async () => {
      ups.strings = { ...ups.strings, serial: 'AAA' };
      const second = backend.add({ bus: '001', address: 5, strings: { serial: 'BBB' } });
      second.respond = () => reportsOf('(second\r');

      const bySerial = new CypressUsbTransport({ backend, clock, serial: 'BBB' });
      assert.equal(await drive(clock, bySerial.exchange('Q1\r')), '(second');
      assert.equal(ups.isOpen, false, 'the device with the wrong serial was closed again');
      assert.equal(bySerial.description, 'usb 0665:5161 bus 001 serial BBB');
      await drive(clock, bySerial.close());

      const byBus = new CypressUsbTransport({ backend, clock, bus: '1' });
      assert.equal(await drive(clock, byBus.exchange('Q1\r')), '(second');
      await drive(clock, byBus.close());
      assert.deepEqual(second.misuse, []);
      assert.equal(second.isOpen, false);
    });
  });
});

describe('CypressUsbTransport on the real usb package', () => {
  it('reports not-found for ids that no device has', async () => {
    const transport = new CypressUsbTransport({ vendorId: 0xffff, productId: 0xfffe });
    const err = await transport.exchange('Q1\r').then(
      () => assert.fail('expected not-found'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransportError && err.kind === 'not-found', String(err));
    await transport.close();
  });

  it('removes its hotplug listeners on unsubscribe', async () => {
    const { usb } = await import('usb');
    const backend = new NodeUsbBackend();
    const before = usb.listenerCount('detach');
    const stop = backend.watch(() => undefined);
    await backend.list();
    assert.equal(usb.listenerCount('detach'), before + (usb._supportedHotplugEvents() ? 1 : 0));
    stop();
    assert.equal(usb.listenerCount('detach'), before);
  });

  it('lets the process exit while watching hotplug events', async () => {
    const backendModule = fileURLToPath(new URL('../../../src/ups/transport/usb-backend.ts', import.meta.url));
    const script = `
      import { NodeUsbBackend } from ${JSON.stringify(backendModule)};
      const backend = new NodeUsbBackend();
      backend.watch(() => {});
      await backend.list();
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log('listed');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, `child did not exit by itself: ${output}`);
    assert.match(output, /listed/);
  });
});
