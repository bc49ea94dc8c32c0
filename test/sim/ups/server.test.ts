import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { UpsSimControl } from '../../../src/sim/ups/client.js';
import type { UpsState } from '../../../src/sim/ups/model.js';
import { startUpsSimulator, type UpsSimulator } from '../../../src/sim/ups/server.js';

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A serial client on the pty, as the production serial transport or nutdrv_qx would be. */
class SerialClient {
  private received = '';

  private constructor(private readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')));
  }

  static async open(path: string): Promise<SerialClient> {
    const port = new SerialPort({ path, baudRate: 2400, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return new SerialClient(port);
  }

  /** Sends a command and resolves with the reply up to and including its CR. */
  async query(command: string, timeoutMs = 3000): Promise<string> {
    this.received = '';
    this.port.write(command);
    const deadline = Date.now() + timeoutMs;
    while (!this.received.includes('\r')) {
      if (Date.now() > deadline) throw new Error(`no reply to ${JSON.stringify(command)}; got ${JSON.stringify(this.received)}`);
      await tick(5);
    }
    return this.received;
  }

  /** Sends a command that gets no reply and checks that none comes within a short wait. */
  async silent(command: string): Promise<void> {
    this.received = '';
    this.port.write(command);
    await tick(200);
    assert.equal(this.received, '', `unexpected reply to ${JSON.stringify(command)}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

describe('UPS simulator on a real pty with a control socket', () => {
  let sim: UpsSimulator;
  let serial: SerialClient;
  let control: UpsSimControl;

  before(async () => {
    sim = await startUpsSimulator({ pty: true });
    assert.match(sim.ptyPath!, /^\/dev\/pts\/\d+$/);
    assert.ok(existsSync(sim.controlPath!));
    serial = await SerialClient.open(sim.ptyPath!);
    control = await UpsSimControl.connect(sim.controlPath!);
  });

  after(async () => {
    await control.close();
    await serial.close();
    await sim.close();
  });

  it('answers Q1, F and I over the pty', async () => {
    assert.equal(await serial.query('Q1\r'), '(228.0 227.4 228.0 028 50.1 13.6 25.0 00001001\r');
    assert.equal(await serial.query('F\r'), '#220.0 003 12.00 50.0\r');
    assert.equal((await serial.query('I\r')).length, 39);
    assert.equal(await serial.query('QGS\r'), 'QGS\r');
  });

  it('a mains failure driven through the control socket shows in Q1', async () => {
    const reply = await control.call({ cmd: 'mains', on: false });
    assert.equal((reply.state as UpsState).mains, false);
    const q1 = await serial.query('Q1\r');
    assert.match(q1, /^\(000\.0 000\.0 220\.0 028 50\.0 \d\d\.\d 25\.0 10001001\r$/);
    await control.call({ cmd: 'mains', on: true });
    assert.match(await serial.query('Q1\r'), / 00001001\r$/);
  });

  it('acts on a shutdown command sent over the pty and logs its bytes', async () => {
    await serial.silent('S.5R0003\r');
    const { state } = (await control.call({ cmd: 'state' })) as { state: UpsState };
    assert.equal(state.shutdown?.phase, 'countdown');
    assert.equal(state.shutdown?.cmd, 'S.5R0003');
    assert.match(await serial.query('Q1\r'), / 00001011\r$/, 'b1: shutdown active');
    await serial.silent('C\r');
    const log = (await control.call({ cmd: 'log' })) as { entries: { kind: string; text: string; hex?: string }[]; lines: string[] };
    const rx = log.entries.find((e) => e.kind === 'RX' && e.text === 'S.5R0003\r');
    assert.equal(rx?.hex, '53 2e 35 52 30 30 30 33 0d');
    assert.ok(log.lines.some((l) => / EV SHUTDOWN_ARMED cmd=S\.5R0003 off_in=30s restore=3min$/.test(l)));
    assert.ok(log.lines.some((l) => / EV SHUTDOWN_CANCELLED cmd=S\.5R0003$/.test(l)));
  });

  it('injects faults on the wire', async () => {
    await control.call({ cmd: 'garbage', count: 1, kind: 'prefix' });
    assert.match(await serial.query('Q1\r'), /^#228\.0 /);
    await control.call({ cmd: 'comm', count: 1 });
    await serial.silent('Q1\r');
    assert.match(await serial.query('Q1\r'), /^\(228\.0 /);
  });

  it('answers bad control requests without dropping the connection', async () => {
    const reply = await control.send({ cmd: 'load', percent: 500 });
    assert.equal(reply.ok, false);
    await assert.rejects(control.call({ cmd: 'charge', percent: -5 }), /simulator refused charge/);
    assert.equal((await control.send({ cmd: 'state' })).ok, true);
  });
});

describe('UPS simulator lifecycle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvepower-ups-sim-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('removes its socket on close, and close is idempotent', async () => {
    const sim = await startUpsSimulator({ pty: false, controlSocket: join(dir, 'a.sock') });
    assert.equal(sim.ptyPath, undefined);
    assert.ok(existsSync(sim.controlPath!));
    // In-process transport onto the same simulator.
    assert.match(await sim.transport().exchange('Q1\r'), /^\(228\.0/);
    await Promise.all([sim.close(), sim.close()]);
    assert.equal(existsSync(join(dir, 'a.sock')), false);
  });

  it('replaces a stale socket left by a crash', async () => {
    const path = join(dir, 'stale.sock');
    // A bound but never-listening unix socket: what a killed process leaves behind.
    const bind = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    assert.equal(bind.status, 0, bind.stderr.toString());
    const sim = await startUpsSimulator({ pty: false, controlSocket: path });
    const control = await UpsSimControl.connect(path);
    assert.equal((await control.send({ cmd: 'state' })).ok, true);
    await control.close();
    await sim.close();
  });

  it('refuses a path in use or one that is not a socket', async () => {
    const live = join(dir, 'live.sock');
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(live, resolve));
    await assert.rejects(startUpsSimulator({ pty: false, controlSocket: live }), /in use/);
    await new Promise<void>((resolve) => other.close(() => resolve()));

    const file = join(dir, 'plain');
    writeFileSync(file, 'keep me');
    await assert.rejects(startUpsSimulator({ pty: false, controlSocket: file }), /not a socket/);
    assert.ok(existsSync(file));
  });
});
