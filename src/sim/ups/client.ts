import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { ControlReply, ControlRequest } from './control.js';

/** A client for the simulator's control socket (tests, benchmarks, scripts). */
export class UpsSimControl {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ControlReply) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    createInterface({ input: socket }).on('line', (line) => this.onLine(line));
    socket.on('close', () => this.failAll(new Error('control socket closed')));
    socket.on('error', (err) => this.failAll(err));
  }

  static connect(path: string): Promise<UpsSimControl> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new UpsSimControl(socket));
      });
    });
  }

  /** Sends one request and resolves with its reply (which may be `ok: false`). */
  send(request: ControlRequest): Promise<ControlReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(new Error('control socket closed'));
      this.pending.set(id, { resolve, reject });
      this.socket.write(JSON.stringify({ ...request, id }) + '\n');
    });
  }

  /** Like send(), but rejects when the simulator answers `ok: false`. */
  async call(request: ControlRequest): Promise<Record<string, unknown>> {
    const reply = await this.send(request);
    if (!reply.ok) throw new Error(`simulator refused ${request.cmd}: ${reply.error}`);
    return reply;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  private onLine(line: string): void {
    let reply: ControlReply;
    try {
      reply = JSON.parse(line) as ControlReply;
    } catch {
      this.failAll(new Error(`bad reply from the simulator: ${line}`));
      return;
    }
    if (typeof reply.id !== 'number') return;
    this.pending.get(reply.id)?.resolve(reply);
    this.pending.delete(reply.id);
  }

  private failAll(err: Error): void {
    for (const { reject } of this.pending.values()) reject(err);
    this.pending.clear();
  }
}
