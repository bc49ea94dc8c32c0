import { chmod, lstat, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PtyPair } from '../pty.js';
import type { UpsSimController } from './control.js';
import { createUpsSim, type UpsSim, type UpsSimOptions } from './simulator.js';

export interface UpsSimulatorOptions extends UpsSimOptions {
  /** Serve the UPS on a real pseudo-terminal. Default true. */
  pty?: boolean;
  /** Control socket path; default a fresh one in os.tmpdir(); false for none. */
  controlSocket?: string | false;
}

export interface UpsSimulator extends UpsSim {
  /** The pty pair, when serving one (its 'exit' event means the relay died). */
  readonly pty: PtyPair | undefined;
  /** What a serial client opens, e.g. /dev/pts/7. */
  readonly ptyPath: string | undefined;
  readonly controlPath: string | undefined;
  /** Stops the UPS, closes the pty and the control socket, removes the socket file. */
  close(): Promise<void>;
}

let instances = 0;

export function defaultControlPath(): string {
  return join(tmpdir(), `pvepower-ups-sim-${process.pid}-${++instances}.sock`);
}

/** A simulated UPS on a pty (for the serial transport, NUT's nutdrv_qx) with a control socket. */
export async function startUpsSimulator(options: UpsSimulatorOptions = {}): Promise<UpsSimulator> {
  const { pty: wantPty = true, controlSocket, ...simOptions } = options;
  const sim = createUpsSim(simOptions);
  let pty: PtyPair | undefined;
  let control: ControlServer | undefined;
  try {
    if (wantPty) {
      const pair = await PtyPair.open();
      pty = pair;
      pair.on('data', (chunk) => sim.responder.receive(chunk));
      sim.responder.on('data', (reply) => pair.write(reply));
    }
    if (controlSocket !== false) control = await ControlServer.listen(controlSocket ?? defaultControlPath(), sim.controller);
  } catch (err) {
    sim.dispose();
    await pty?.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    ...sim,
    pty,
    ptyPath: pty?.path,
    controlPath: control?.path,
    close() {
      closing ??= (async () => {
        sim.dispose();
        await control?.close();
        await pty?.close();
      })();
      return closing;
    },
  };
}

/** JSON lines over a unix domain socket: each request line gets one reply line. */
class ControlServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
    controller: UpsSimController,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      createInterface({ input: socket }).on('line', (line) => {
        if (line.trim() === '') return;
        let request: unknown;
        try {
          request = JSON.parse(line);
        } catch {
          socket.write(JSON.stringify({ ok: false, error: `not JSON: ${line.slice(0, 200)}` }) + '\n');
          return;
        }
        socket.write(JSON.stringify(controller.handle(request)) + '\n');
      });
    });
  }

  static async listen(path: string, controller: UpsSimController): Promise<ControlServer> {
    await removeStaleSocket(path);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The socket can fail the UPS on command: only its owner should reach it.
    await chmod(path, 0o600);
    return new ControlServer(path, server, controller);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    // Closing a unix-socket server also unlinks its file.
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A socket file left by a crashed simulator is removed; a live one or any other file is not. */
async function removeStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return;
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${path} is in use by another simulator`);
  await rm(path, { force: true });
}
