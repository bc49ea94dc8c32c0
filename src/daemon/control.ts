import { createConnection, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Daemon } from './daemon.js';

/** The daemon's control socket in its state directory (mode 0600 via the service's UMask). */
export const CONTROL_SOCKET = 'control.sock';

export type ControlRequest = { cmd: 'trigger'; stage: string } | { cmd: 'status' };
export type ControlReply = { ok: boolean; message?: string; status?: Record<string, unknown> };

/** Serves `pvepower trigger STAGE` and status queries: one JSON request and reply per line. */
export async function serveControl(daemon: Daemon, path: string): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    const lines = createInterface({ input: socket });
    lines.on('line', (line) => {
      socket.write(JSON.stringify(handle(daemon, line)) + '\n');
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  server.unref();
  return server;
}

function handle(daemon: Daemon, line: string): ControlReply {
  let request: ControlRequest;
  try {
    request = JSON.parse(line) as ControlRequest;
  } catch {
    return { ok: false, message: 'not JSON' };
  }
  if (request.cmd === 'trigger' && typeof request.stage === 'string') return daemon.trigger(request.stage);
  if (request.cmd === 'status') return { ok: true, status: daemon.snapshot() };
  return { ok: false, message: `unknown request ${JSON.stringify(request)}` };
}

/** Sends one request to a running daemon. */
export function controlRequest(path: string, request: ControlRequest, timeoutMs = 5000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the daemon at ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the pvepower daemon at ${path}: ${err.message} (is \`pvepower run\` running?)`));
    });
    socket.once('connect', () => socket.write(JSON.stringify(request) + '\n'));
    createInterface({ input: socket }).once('line', (line) => {
      clearTimeout(timer);
      socket.end();
      resolve(JSON.parse(line) as ControlReply);
    });
  });
}
