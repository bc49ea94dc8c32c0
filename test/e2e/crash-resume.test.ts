// `pvepower run` as a child process, killed with SIGKILL in the middle of a shutdown group and
// started again with the same config: the journal must let the second daemon finish the plan
// without sending any guest a second shutdown. UPS simulator on a real pty (driven through its
// control socket), PVE simulator (×20) in this process; assertions on the simulators.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimStateDump } from '../../src/sim/pve/cluster.js';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { UpsSimControl } from '../../src/sim/ups/client.js';
import { startUpsSimulator, type UpsSimulator } from '../../src/sim/ups/server.js';
import { guestOf, guestPosts, nodePowerPosts, recordingShutdownScript, spawnCli, tempDir, until, writeSecret, type Recorder } from './helpers.js';

const PVE_SCALE = 20;
const GROUP1 = [401, 402, 403];
const GROUP2 = [410];
/** Stops 2 s (wall) after its request; the two others take 8 s: the kill lands between. */
const QUICK = 401;

function scenario(): Record<string, unknown> {
  return {
    cluster: { name: 'crash', version: '9.2.11', haLatencySeconds: 2 },
    nodes: [
      { name: 'pve1', local: true },
      { name: 'pve2' },
      { name: 'pve3' },
    ],
    guests: [
      { vmid: 401, node: 'pve1', name: 'quick', status: 'running', shutdownSeconds: 40 },
      { vmid: 402, node: 'pve2', name: 'slow-vm', status: 'running', shutdownSeconds: 160 },
      { vmid: 403, type: 'lxc', node: 'pve3', name: 'slow-ct', status: 'running', shutdownSeconds: 160 },
      { vmid: 410, node: 'pve1', name: 'nas', status: 'running', tags: ['nas'], shutdownSeconds: 20 },
    ],
    users: [
      {
        userid: 'pvepower@pve',
        privileges: ['VM.Audit', 'VM.PowerMgmt', 'Sys.Audit', 'Sys.PowerMgmt', 'Sys.Modify', 'Sys.Console', 'Pool.Audit'],
        tokens: [{ id: 'ups', secret: 'c7a5b1e0-2222-4333-8444-555566667777' }],
      },
    ],
  };
}

class DaemonProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(config: string) {
    this.child = spawnCli(['run', '--config', config]);
    this.child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  /** Ends the process by its pid (no-op when it already exited). */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
}

describe('daemon killed (SIGKILL) in the middle of a group, then restarted', () => {
  const tmp = tempDir('crash');
  let pveSim: PveSimulator;
  let upsSim: UpsSimulator;
  let control: UpsSimControl;
  let recorder: Recorder;
  let first: DaemonProcess | undefined;
  let second: DaemonProcess | undefined;
  let state: SimStateDump;
  let atKill: SimStateDump;
  let killedAt = 0;
  let flagAtKill = true;
  const flagPath = join(tmp.dir, 'killpower');

  before(async () => {
    pveSim = await startPveSimulator({ scenario: scenario() as never, timeScale: PVE_SCALE });
    upsSim = await startUpsSimulator({ pty: true, scale: 1, seed: 3 });
    control = await UpsSimControl.connect(upsSim.controlPath!);
    const secretFile = writeSecret(tmp.dir, pveSim.tokenSecret);
    recorder = recordingShutdownScript(tmp.dir, flagPath);
    const config = join(tmp.dir, 'pvepower.yaml');
    writeFileSync(
      config,
      `ups:
  name: crashups
  port: ${upsSim.ptyPath}
  pollinterval: 500ms
proxmox:
  host: 127.0.0.1
  port: ${pveSim.port}
  token_id: ${pveSim.tokenId}
  token_secret_file: ${secretFile}
  ca: ${pveSim.caPath}
stages:
  shutdown:
    when: { low_battery: true }
guests:
  - match: { tags: [nas] }
    group: 2
    timeout: 5m
  - match: {}
    group: 1
    timeout: 5m
hosts:
  shutdown_command: ${recorder.script}
killpower:
  flag: ${flagPath}
state_dir: ${join(tmp.dir, 'state')}
log:
  level: info
  format: text
`,
    );

    first = new DaemonProcess(config);
    // Wait for the daemon to read the UPS (it polls every 500 ms) before the mains fail.
    const polled = upsSim.model.log.entries().length;
    await until(() => upsSim.model.log.entries().filter((e) => e.kind === 'RX').length > polled + 2, 15_000, 'the first daemon to poll the UPS');
    await control.call({ cmd: 'mains', on: false });
    await control.call({ cmd: 'lb', mode: 'on' });

    // The moment to crash: every group-1 shutdown was sent and answered, the quick guest is
    // down, the slow ones are still shutting down.
    const sent = (v: number) => guestPosts(pveSim, v).some((e) => e.path.endsWith('/status/shutdown') && e.status === 200);
    const stopped = (v: number) => guestOf(pveSim.state(), v).status === 'stopped';
    await until(() => GROUP1.every(sent) && stopped(QUICK), 20_000, 'group 1 in flight');
    assert.ok(!stopped(402) && !stopped(403), 'the slow guests still run at the kill');
    await first.kill('SIGKILL');
    killedAt = pveSim.clock.now();
    atKill = pveSim.state();
    flagAtKill = existsSync(flagPath);

    second = new DaemonProcess(config);
    await until(() => recorder.runs().length > 0, 30_000, 'the host shutdown command of the restarted daemon');
    // Give a duplicate (a second run of anything) a moment to show before looking.
    await new Promise((r) => setTimeout(r, 500));
    state = pveSim.state();
  });

  after(async () => {
    await first?.kill('SIGKILL');
    await second?.kill('SIGTERM');
    await control?.close();
    await upsSim?.close();
    await pveSim?.close();
    if (process.env.E2E_DEBUG) console.error(first?.output, '\n---- second daemon ----\n', second?.output);
    tmp.cleanup();
  });

  it('was really killed mid-group: shutdowns of group 1 sent, not all stopped, group 2 not started', () => {
    assert.ok(first!.child.signalCode === 'SIGKILL', 'the first daemon died of SIGKILL');
    for (const v of GROUP1) assert.equal(guestOf(atKill, v).shutdownRequestedAt.length, 1, `${v} requested before the kill`);
    assert.equal(guestOf(atKill, 402).status, 'running');
    assert.equal(guestOf(atKill, 403).status, 'running');
    assert.deepEqual(guestOf(atKill, 410).shutdownRequestedAt, [], 'group 2 untouched before the kill');
    assert.equal(flagAtKill, false, 'no killpower flag before the kill');
    assert.deepEqual([...nodePowerPosts(pveSim, 'pve2'), ...nodePowerPosts(pveSim, 'pve3')].filter((e) => e.at <= killedAt), []);
  });

  it('the restarted daemon completes the plan: group 2, node shutdowns, killpower flag, host command', () => {
    const nas = guestOf(state, 410);
    assert.equal(nas.shutdownRequestedAt.length, 1, 'the NAS got its shutdown from the second daemon');
    assert.ok(nas.shutdownRequestedAt[0]! > killedAt);
    const lastGroup1Stop = Math.max(...GROUP1.map((v) => guestOf(state, v).stoppedAt[0]!));
    assert.ok(nas.shutdownRequestedAt[0]! >= lastGroup1Stop, 'group 2 only after every group-1 guest stopped, across the crash');
    for (const v of [...GROUP1, ...GROUP2]) assert.equal(guestOf(state, v).status, 'stopped', `${v} stopped`);
    for (const node of ['pve2', 'pve3']) {
      const posts = nodePowerPosts(pveSim, node);
      assert.deepEqual(posts.map((p) => [p.params.command, p.status]), [['shutdown', 200]], `one shutdown for ${node}`);
      assert.ok(posts[0]!.at > killedAt);
    }
    assert.deepEqual(nodePowerPosts(pveSim, 'pve1'), [], 'never this host through the API');
    const runs = recorder.runs();
    assert.equal(runs.length, 1, 'the host shutdown command ran once');
    assert.equal(runs[0]!.flag, 'upsmon-shutdown-file', 'with the killpower flag in place');
    assert.ok(readFileSync(flagPath, 'latin1').startsWith('upsmon-shutdown-file'));
    assert.match(second!.output, /resum/i, 'the second daemon says it resumed');
  });

  it('no guest got a second shutdown (or any hard stop) across the crash', () => {
    for (const g of state.guests) {
      assert.ok(g.shutdownRequestedAt.length <= 1, `guest ${g.vmid}: ${g.shutdownRequestedAt.length} shutdown requests`);
      assert.deepEqual(g.stopRequestedAt, [], `guest ${g.vmid}: no hard stop`);
      const posts = guestPosts(pveSim, g.vmid).filter((e) => /\/status\/(shutdown|stop)$/.test(e.path));
      assert.equal(posts.length, 1, `guest ${g.vmid}: ${posts.length} shutdown/stop POSTs in the audit`);
    }
    for (const v of GROUP1) {
      assert.ok(guestOf(state, v).shutdownRequestedAt[0]! < killedAt, `${v}: its only shutdown is the first daemon's`);
    }
  });
});
