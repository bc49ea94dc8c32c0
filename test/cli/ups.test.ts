import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { UpsSimControl } from '../../src/sim/ups/client.js';
import type { LogEntry } from '../../src/sim/ups/log.js';
import { startUpsSimulator, type UpsSimulator } from '../../src/sim/ups/server.js';

// The real CLI as a child process, from the project root, against a simulated UPS on a real pty.
const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const POLL_MS = 250;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

function runCli(args: string[]): Promise<CliResult> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves with the next log entry the simulator records that matches. */
function nextEntry(sim: UpsSimulator, match: (e: LogEntry) => boolean, timeoutMs = 5000): Promise<LogEntry> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sim.model.log.off('entry', onEntry);
      reject(new Error(`no matching simulator log entry within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEntry = (e: LogEntry) => {
      if (!match(e)) return;
      clearTimeout(timer);
      sim.model.log.off('entry', onEntry);
      resolve(e);
    };
    sim.model.log.on('entry', onEntry);
  });
}

const q1Sent = (e: LogEntry) => e.kind === 'RX' && e.text === 'Q1\r';
const q1Answered = (e: LogEntry) => e.kind === 'TX' && e.text.startsWith('(');

/** A running `pvepower watch`: its event lines as they arrive. */
class Watch {
  readonly events: Array<{ time: string; ups: string; event: string; status: string; arrivedAt: number }> = [];
  private readonly child: ChildProcess;
  private stderr = '';
  /** Wakes a pending next() when a line arrives. */
  private wake: () => void = () => undefined;

  constructor(args: string[]) {
    this.child = spawnCli(['watch', ...args]);
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.events.push({ ...JSON.parse(line), arrivedAt: Date.now() });
      this.wake();
    });
  }

  /** Waits until an event with this name has been printed; returns it. */
  async next(event: string, timeoutMs = 5000): Promise<Watch['events'][number]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.event === event);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no ${event} within ${timeoutMs} ms; got ${JSON.stringify(this.events)}; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** SIGTERM, then the exit code; safe to call again after the process ended. */
  stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => {
      this.child.once('close', (code) => resolve(code));
      this.child.kill('SIGTERM');
    });
  }
}

function parseStatus(stdout: string): Map<string, string> {
  const lines = stdout.trimEnd().split('\n');
  const keys = lines.map((l) => l.slice(0, l.indexOf(': ')));
  assert.deepEqual(keys, [...keys].sort(), 'lines are sorted by key, as upsc prints them');
  return new Map(lines.map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
}

const BATTERY_FLAGS = ['--battery-nominal', '12', '--battery-high', '13.6', '--battery-low', '10.4'];

describe('pvepower status/watch/cmd against the UPS simulator on a pty', { concurrency: true }, () => {
  it('status: exit 1 naming port, transport, tries and timeout when the device does not answer', async () => {
    const sim = await startUpsSimulator({ pty: true });
    try {
      const control = await UpsSimControl.connect(sim.controlPath!);
      await control.call({ cmd: 'comm', state: 'lost' });
      await control.close();
      const result = await runCli(['status', '--port', sim.ptyPath!]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      const escaped = sim.ptyPath!.replace(/\//g, '\\/');
      assert.match(result.stderr, new RegExp(`no valid Q1 reply from serial ${escaped} in 3 tries \\(timeout 1s\\): timeout`));
    } finally {
      await sim.close();
    }
  });

  // These share one simulator, so they must not overlap (the parent's concurrency is inherited).
  describe('one UPS at a time', { concurrency: 1 }, () => {
    let sim: UpsSimulator;
    let control: UpsSimControl;

    before(async () => {
      sim = await startUpsSimulator({ pty: true });
      control = await UpsSimControl.connect(sim.controlPath!);
    });
    after(async () => {
      await control.close();
      await sim.close();
    });

    it('status prints OL, then OB after a mains failure, then OB LB', async () => {
      const ol = await runCli(['status', '--port', sim.ptyPath!, ...BATTERY_FLAGS]);
      assert.equal(ol.code, 0, ol.stderr);
      const vars = parseStatus(ol.stdout);
      assert.equal(vars.get('ups.status'), 'OL');
      assert.equal(vars.get('input.voltage'), '228.0');
      assert.equal(vars.get('output.voltage'), '228.0');
      assert.equal(vars.get('battery.voltage'), '13.60');
      assert.equal(vars.get('battery.voltage.high'), '13.60');
      assert.equal(vars.get('battery.voltage.low'), '10.40');
      assert.equal(vars.get('battery.voltage.nominal'), '12.00');
      assert.equal(vars.get('device.mfr'), 'IPPON');
      assert.equal(vars.get('driver.parameter.port'), sim.ptyPath);

      await control.call({ cmd: 'mains', on: false });
      const ob = parseStatus((await runCli(['status', '--port', sim.ptyPath!])).stdout);
      assert.equal(ob.get('ups.status'), 'OB');
      assert.equal(ob.get('input.voltage'), '0.0');

      await control.call({ cmd: 'lb', mode: 'on' });
      const lb = parseStatus((await runCli(['status', '--port', sim.ptyPath!])).stdout);
      assert.equal(lb.get('ups.status'), 'OB LB');

      await control.call({ cmd: 'lb', mode: 'auto' });
      await control.call({ cmd: 'mains', on: true });
      const json = await runCli(['status', '--port', sim.ptyPath!, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const object = JSON.parse(json.stdout) as Record<string, string>;
      assert.equal(object['ups.status'], 'OL');
      assert.equal(object['input.voltage'], '228.0');
      assert.deepEqual(Object.keys(object), Object.keys(object).sort());
    });

    it('watch prints ONBATT within pollinterval + 0.5 s of the failure, then ONLINE, and exits 0 on SIGTERM', async (t) => {
      const polled = nextEntry(sim, q1Answered);
      const watch = new Watch(['--port', sim.ptyPath!, '--pollinterval', `${POLL_MS}ms`, '--name', 'ippon']);
      t.after(() => watch.stop());
      await polled;

      await control.call({ cmd: 'mains', on: false });
      const failedAt = Date.now();
      const onbatt = await watch.next('ONBATT');
      const latency = onbatt.arrivedAt - failedAt;
      assert.ok(latency <= POLL_MS + 500, `ONBATT ${latency} ms after the failure`);
      assert.equal(onbatt.ups, 'ippon');
      assert.equal(onbatt.status, 'OB');
      assert.ok(!Number.isNaN(Date.parse(onbatt.time)) && onbatt.time.endsWith('Z'), onbatt.time);

      await control.call({ cmd: 'mains', on: true });
      const online = await watch.next('ONLINE');
      assert.equal(online.status, 'OL');

      assert.equal(await watch.stop(), 0);
      assert.deepEqual(watch.events.map((e) => e.event), ['ONBATT', 'ONLINE']);
    });

    it('watch reports a comm loss on line as COMMBAD and COMMOK only', async (t) => {
      const polled = nextEntry(sim, q1Answered);
      const watch = new Watch(['--port', sim.ptyPath!, '--pollinterval', `${POLL_MS}ms`]);
      t.after(() => watch.stop());
      await polled;

      await control.call({ cmd: 'comm', state: 'lost' });
      const bad = await watch.next('COMMBAD');
      assert.equal(bad.status, 'OL', 'the last known status stays');
      await control.call({ cmd: 'comm', state: 'ok' });
      await watch.next('COMMOK');
      // A few more good polls must not add anything.
      for (let i = 0; i < 3; i++) await nextEntry(sim, q1Sent);

      assert.equal(await watch.stop(), 0);
      assert.deepEqual(watch.events.map((e) => e.event), ['COMMBAD', 'COMMOK']);
    });

    const cmdCases: Array<{ args: string[]; wire: string; config?: string }> = [
      { args: ['shutdown.return'], wire: 'S.5R0003\r' },
      { args: ['beeper.toggle'], wire: 'Q\r' },
      { args: ['test.battery.start.quick'], wire: 'T\r' },
      // The config's ups.delay replaces the default 30 s / 3 m.
      { args: ['shutdown.return'], wire: 'S01R0002\r', config: 'delay: { shutdown: 1m, start: 2m }' },
    ];
    for (const { args, wire, config } of cmdCases) {
      it(`cmd ${args.join(' ')}${config ? ` with ${config}` : ''} sends ${JSON.stringify(wire)}`, async () => {
        const dir = mkdtempSync(join(tmpdir(), 'pvepower-cli-ups-'));
        try {
          const flags = ['--port', sim.ptyPath!];
          if (config) {
            const file = join(dir, 'pvepower.yaml');
            writeFileSync(
              file,
              `ups:\n  port: ${sim.ptyPath}\n  ${config}\nproxmox:\n  token_id: pvepower@pve!ups\n  ca: /etc/pve/pve-root-ca.pem\n`,
            );
            flags.splice(0, 2, '--config', file);
          }
          const since = sim.model.log.lastSeq;
          const result = await runCli(['cmd', ...flags, ...args]);
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.stdout, `${args[0]}: sent ${wire.slice(0, -1)}\n`);
          const received = sim.model.log.entries(since).filter((e) => e.kind === 'RX').map((e) => e.text);
          // A read proves the UPS answers, then exactly the one command.
          assert.deepEqual(received, ['F\r', 'I\r', 'Q1\r', wire]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });

  it('cmd: an unknown command exits 2 listing the supported ones, without touching a device', async () => {
    const result = await runCli(['cmd', '--port', '/dev/pvepower-no-such-port', 'self.destruct']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown instant command 'self\.destruct'; supported: .*shutdown\.return.*test\.battery\.start\.quick/);
  });

  it('cmd --list lists every instant command with a description', async () => {
    const result = await runCli(['cmd', '--list']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.ok(lines.includes('shutdown.return - Turn off the load and return when power is back'), result.stdout);
    assert.equal(lines.length, 12);
  });

  it('bad flags and missing devices: exit 2 for usage, 1 for a port that does not exist', async () => {
    const relative = await runCli(['status', '--port', 'ttyUSB0']);
    assert.equal(relative.code, 2);
    assert.match(relative.stderr, /--port: expected auto/);
    const fast = await runCli(['watch', '--port', '/dev/null', '--pollinterval', '10ms']);
    assert.equal(fast.code, 2);
    assert.match(fast.stderr, /--pollinterval: must be within 200ms\.\.1m, got 10ms/);
    const extra = await runCli(['cmd', '--port', '/dev/pvepower-no-such-port', 'beeper.toggle', '5']);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /beeper\.toggle takes no value/);
    const missing = await runCli(['status', '--port', '/dev/pvepower-no-such-port']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot open the UPS: serial port \/dev\/pvepower-no-such-port does not exist/);
  });
});
