import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';

/**
 * A real pseudo-terminal pair. Node cannot open one itself (no ioctl), so a tiny python3 relay
 * (stdlib only; python3 is on every Proxmox VE host) opens it, holds the slave open (so the
 * master never sees EIO when a client closes), and relays master <-> its stdio.
 * A client (pvepower's serial transport, NUT's nutdrv_qx) opens `path`; bytes it writes arrive
 * through 'data', and write() sends bytes to it.
 */
const RELAY = `
import os, pty, select, sys, tty
master, slave = pty.openpty()
tty.setraw(slave)
sys.stderr.write(os.ttyname(slave) + "\\n"); sys.stderr.flush()
inp, out = sys.stdin.fileno(), sys.stdout.fileno()
while True:
    ready, _, _ = select.select([inp, master], [], [])
    if inp in ready:
        data = os.read(inp, 4096)
        if not data:
            break
        os.write(master, data)
    if master in ready:
        try:
            data = os.read(master, 4096)
        except OSError:
            continue
        os.write(out, data)
`;

export interface PtyEvents {
  data: [Buffer];
  exit: [number | null];
}

export class PtyPair extends EventEmitter<PtyEvents> {
  private constructor(
    /** The slave device, e.g. /dev/pts/7: what a serial client opens. */
    readonly path: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    super();
    child.stdout.on('data', (chunk: Buffer) => this.emit('data', chunk));
    child.on('exit', (code) => this.emit('exit', code));
  }

  static open(python = process.env.PVEPOWER_PYTHON ?? 'python3'): Promise<PtyPair> {
    return new Promise((resolve, reject) => {
      const child = spawn(python, ['-u', '-c', RELAY], { stdio: ['pipe', 'pipe', 'pipe'] });
      const lines = createInterface({ input: child.stderr });
      const fail = (err: Error) => reject(new Error(`cannot open a pseudo-terminal via ${python}: ${err.message}`));
      child.once('error', fail);
      child.once('exit', (code) => fail(new Error(`relay exited with ${code}`)));
      lines.once('line', (path) => {
        child.removeAllListeners('error');
        child.removeAllListeners('exit');
        lines.close();
        child.stderr.resume();
        resolve(new PtyPair(path.trim(), child));
      });
    });
  }

  write(data: string | Buffer): void {
    if (!this.child.stdin.destroyed) this.child.stdin.write(data);
  }

  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
      this.child.kill('SIGTERM');
    });
  }
}
