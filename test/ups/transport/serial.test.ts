import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import winston from 'winston';
import { PtyPair } from '../../../src/sim/pty.js';
import { CABLE_LINES, SerialTransport, serialOpenError } from '../../../src/ups/transport/serial.js';
import { TransportError } from '../../../src/ups/transport/transport.js';

const Q1_REPLY = '(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000';

/** The UPS end of a pty: hands each CR-terminated command the client wrote to `onCommand`. */
class ScriptedPeer {
  readonly commands: string[] = [];
  onCommand: (command: string, peer: ScriptedPeer) => void = () => undefined;
  private buffered = '';

  constructor(readonly pty: PtyPair) {
    pty.on('data', (chunk) => {
      this.buffered += chunk.toString('latin1');
      let end: number;
      while ((end = this.buffered.indexOf('\r')) >= 0) {
        const command = this.buffered.slice(0, end + 1);
        this.buffered = this.buffered.slice(end + 1);
        this.commands.push(command);
        this.onCommand(command, this);
      }
    });
  }

  send(text: string): void {
    this.pty.write(Buffer.from(text, 'latin1'));
  }
}

function captureLogger(): { logger: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.printf((info) => `${info.level} ${String(info.message)}`),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, lines };
}

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function rejectsWith(promise: Promise<unknown>, kind: TransportError['kind']): Promise<TransportError> {
  const err = await promise.then(
    () => assert.fail(`expected a ${kind} TransportError`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TransportError, `expected TransportError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err;
}

describe('SerialTransport over a real pseudo-terminal', () => {
  let pty: PtyPair;
  let peer: ScriptedPeer;
  let transport: SerialTransport;

  before(async () => {
    pty = await PtyPair.open();
    peer = new ScriptedPeer(pty);
    transport = new SerialTransport({ path: pty.path });
  });

  after(async () => {
    await transport.close();
    await pty.close();
  });

  it('sends Q1 and returns the text before the CR', async () => {
    peer.onCommand = (command, p) => {
      if (command === 'Q1\r') p.send(`${Q1_REPLY}\r`);
    };
    const before = peer.commands.length;
    assert.equal(await transport.exchange('Q1\r'), Q1_REPLY);
    assert.deepEqual(peer.commands.slice(before), ['Q1\r']);
  });

  it('joins a reply that arrives in several chunks and drops what follows the CR', async () => {
    peer.onCommand = (_command, p) => {
      p.send('(226.0 195.0 ');
      setTimeout(() => p.send('226.0 014 49.0 27.5 '), 20);
      setTimeout(() => p.send('30.0 00001000\r\n'), 40);
    };
    assert.equal(await transport.exchange('Q1\r', { timeoutMs: 200 }), Q1_REPLY);
  });

  it('rejects with timeout and the partial text when no CR arrives', async () => {
    peer.onCommand = (_command, p) => p.send('(226.0 19');
    const err = await rejectsWith(transport.exchange('Q1\r', { timeoutMs: 120 }), 'timeout');
    assert.equal(err.partial, '(226.0 19');
    assert.match(err.message, /no reply to Q1 within 120 ms/);
  });

  it('times out with an empty partial for a command the UPS does not answer', async () => {
    peer.onCommand = () => undefined;
    const err = await rejectsWith(transport.exchange('T\r', { timeoutMs: 80 }), 'timeout');
    assert.equal(err.partial, '');
  });

  it('discards stale bytes that were waiting before the command', async () => {
    peer.onCommand = (command, p) => {
      if (command === 'F\r') p.send('#230.0 000 024.0 50.0\r');
    };
    // A late reply to an earlier command: it must not be taken as the answer to F.
    peer.send('(STALE 000.0\r');
    await tick(50);
    assert.equal(await transport.exchange('F\r', { timeoutMs: 200 }), '#230.0 000 024.0 50.0');
  });

  it('runs concurrent exchanges one after the other', async () => {
    const order: string[] = [];
    peer.onCommand = (command, p) => {
      order.push(`got ${command.trim()}`);
      // Answer late so an interleaving transport would already have sent the next command.
      setTimeout(() => {
        order.push(`answer ${command.trim()}`);
        p.send(`${command.trim()}-reply\r`);
      }, 30);
    };
    const replies = await Promise.all([
      transport.exchange('Q1\r', { timeoutMs: 200 }),
      transport.exchange('I\r', { timeoutMs: 200 }),
      transport.exchange('F\r', { timeoutMs: 200 }),
    ]);
    assert.deepEqual(replies, ['Q1-reply', 'I-reply', 'F-reply']);
    assert.deepEqual(order, ['got Q1', 'answer Q1', 'got I', 'answer I', 'got F', 'answer F']);
  });

  it('refuses a command without its CR', async () => {
    assert.throws(() => transport.exchange('Q1'), TypeError);
  });
});

describe('SerialTransport setup and loss', () => {
  it('flushes bytes that were in the line before the port was opened', async () => {
    const pty = await PtyPair.open();
    const peer = new ScriptedPeer(pty);
    peer.onCommand = (command, p) => {
      if (command === 'Q1\r') p.send(`${Q1_REPLY}\r`);
    };
    peer.send('(OLD REPLY\r');
    await tick(30);
    const transport = new SerialTransport({ path: pty.path });
    try {
      assert.equal(await transport.exchange('Q1\r', { timeoutMs: 200 }), Q1_REPLY);
    } finally {
      await transport.close();
      await pty.close();
    }
  });

  it('warns, but opens, when the port has no modem lines for DTR/RTS', async () => {
    const pty = await PtyPair.open();
    const { logger, lines } = captureLogger();
    const transport = new SerialTransport({ path: pty.path, cablepower: 'both', logger });
    try {
      await transport.open();
      assert.ok(
        lines.some((line) => line.startsWith('warn') && /cannot set DTR\/RTS/.test(line)),
        lines.join(''),
      );
    } finally {
      await transport.close();
      await pty.close();
    }
  });

  it('reports not-found for a missing device path', async () => {
    const transport = new SerialTransport({ path: '/dev/ttyUSB-pvepower-missing' });
    const err = await rejectsWith(transport.open(), 'not-found');
    assert.match(err.message, /ttyUSB-pvepower-missing does not exist/);
    await rejectsWith(transport.exchange('Q1\r'), 'not-found');
    await transport.close();
  });

  it('reports disconnected when the device goes away, then tries to reopen it', async () => {
    const pty = await PtyPair.open();
    const peer = new ScriptedPeer(pty);
    const transport = new SerialTransport({ path: pty.path });
    try {
      peer.onCommand = (_command, p) => p.send('(ok\r');
      assert.equal(await transport.exchange('Q1\r', { timeoutMs: 200 }), '(ok');
      // Answering nothing and then vanishing: like a USB serial adapter being unplugged.
      peer.onCommand = () => void pty.close();
      await rejectsWith(transport.exchange('Q1\r', { timeoutMs: 1000 }), 'disconnected');
      // The device node is gone, so the reopen attempt says so.
      await rejectsWith(transport.exchange('Q1\r', { timeoutMs: 200 }), 'not-found');
    } finally {
      await transport.close();
      await pty.close();
    }
  });

  it('closes twice without complaint', async () => {
    const pty = await PtyPair.open();
    const transport = new SerialTransport({ path: pty.path });
    await transport.open();
    await transport.close();
    await transport.close();
    await pty.close();
  });
});

describe('serial helpers', () => {
  it('maps cablepower to NUT DTR/RTS levels', () => {
    assert.deepEqual(CABLE_LINES.normal, { dtr: true, rts: false });
    assert.deepEqual(CABLE_LINES.reverse, { dtr: false, rts: true });
    assert.deepEqual(CABLE_LINES.both, { dtr: true, rts: true });
    assert.deepEqual(CABLE_LINES.none, { dtr: false, rts: false });
  });

  it('classifies the binding open errors', () => {
    const cases: Array<[string, TransportError['kind']]> = [
      ['Error: No such file or directory, cannot open /dev/ttyUSB0', 'not-found'],
      ['Error: Permission denied, cannot open /dev/ttyUSB0', 'access'],
      ['Error Resource temporarily unavailable Cannot lock port', 'busy'],
      ['Error: Inappropriate ioctl for device setting custom baud rate of 2400', 'io'],
    ];
    for (const [message, kind] of cases) {
      assert.equal(serialOpenError('/dev/ttyUSB0', new Error(message)).kind, kind, message);
    }
    assert.match(serialOpenError('/dev/ttyUSB0', new Error(cases[1]![0])).message, /dialout/);
    assert.match(serialOpenError('/dev/ttyUSB0', new Error(cases[2]![0])).message, /nutdrv_qx/);
  });
});
