// `pvepower drill`: the dry run against a (simulated) live cluster must only read, and the
// end-to-end `drill --sim` must walk a whole outage down to the UPS shutdown command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { recordingShutdownScript, runCli, tempDir, writeSecret, type CliResult, type Recorder } from './helpers.js';

const SCENARIO = new URL('../../config/sim-cluster.yaml', import.meta.url).pathname;

describe('pvepower drill --config F (dry run) against the PVE simulator', () => {
  const tmp = tempDir('drill');
  let sim: PveSimulator;
  let recorder: Recorder;
  let result: CliResult;
  const flag = join(tmp.dir, 'killpower');

  before(async () => {
    sim = await startPveSimulator({ scenario: SCENARIO, timeScale: 20 });
    const secretFile = writeSecret(tmp.dir, sim.tokenSecret);
    recorder = recordingShutdownScript(tmp.dir, flag);
    const config = join(tmp.dir, 'pvepower.yaml');
    writeFileSync(
      config,
      `proxmox:
  host: 127.0.0.1
  port: ${sim.port}
  token_id: ${sim.tokenId}
  token_secret_file: ${secretFile}
  ca: ${sim.caPath}
stages:
  shed:
    when: { on_battery_for: 30s }
  shutdown:
    when:
      any:
        - low_battery: true
        - charge_below: 40
guests:
  - match: { tags: [ups-shed] }
    stage: shed
    timeout: 60s
    restart_on_power_return: true
  - match: { tags: [critical] }
    group: 2
    timeout: 3m
  - match: { vmid: [110] }
    group: 3
    timeout: 5m
  - match: {}
    group: 1
    timeout: 2m
hosts:
  shutdown_command: ${recorder.script}
killpower:
  flag: ${flag}
state_dir: ${join(tmp.dir, 'state')}
`,
    );
    result = await runCli(['drill', '--config', config]);
  });

  after(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('exits 0 and prints the plan and the timeline', () => {
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /^plan for pve1$/m);
    assert.match(out, /Timeline on power failure \(dry run: nothing was sent\):/);
    assert.match(out, /1\. when on battery for 30s: stage shed stops 4 guests in 1 group/);
    assert.match(out, /2\. when .*low battery.*: stage shutdown stops 6 guests in 3 groups/);
    assert.match(out, /node shutdown sent to pve3, pve2\n/);
    assert.ok(out.includes(`killpower flag ${flag} written`), 'killpower step');
    assert.ok(out.includes(`this host (pve1) runs: ${recorder.script}`), 'host command step');
    assert.match(out, /hosts: pve3 → pve2 \(Ceph MON\) → pve1 \(self\)/);
    // Every running guest, and neither the stopped guest nor the template, is in the plan.
    for (const vmid of [100, 101, 102, 103, 104, 105, 106, 107, 108, 110]) assert.match(out, new RegExp(`^\\s+pve\\d\\s+${vmid}\\s`, 'm'), `guest ${vmid} in the plan`);
    for (const vmid of [120, 9000]) assert.doesNotMatch(out, new RegExp(`^\\s+pve\\d\\s+${vmid}\\s`, 'm'), `guest ${vmid} not in the plan`);
    assert.ok(!result.stdout.includes(sim.tokenSecret) && !result.stderr.includes(sim.tokenSecret), 'no token secret in the output');
  });

  it('sent only GETs to the cluster (token auth: no login POST) and changed nothing', () => {
    const entries = sim.audit.entries();
    assert.ok(entries.length >= 5, `the dry run read the cluster (${entries.length} requests)`);
    assert.deepEqual(
      entries.filter((e) => e.method !== 'GET').map((e) => `${e.method} ${e.path}`),
      [],
      'no POST, PUT or DELETE',
    );
    assert.deepEqual(sim.audit.find(undefined, '/access/ticket'), [], 'no ticket login');
    assert.ok(entries.every((e) => e.status === 200 && e.user === sim.tokenId), 'every request authenticated by the token');
    const state = sim.state();
    for (const g of state.guests) {
      assert.deepEqual([g.shutdownRequestedAt, g.stopRequestedAt, g.startRequestedAt], [[], [], []], `guest ${g.vmid} untouched`);
    }
    for (const n of state.nodes) assert.deepEqual(n.shutdownRequestedAt, [], `node ${n.name} untouched`);
    assert.equal(existsSync(flag), false, 'no killpower flag');
    assert.deepEqual(recorder.runs(), [], 'the host command did not run');
  });
});

describe('pvepower drill --sim --config config/example.yaml --time-scale 60', () => {
  let result: CliResult;
  before(async () => {
    result = await runCli(['drill', '--sim', '--config', 'config/example.yaml', '--time-scale', '60'], 35_000);
  });

  it('exits 0 and prints the whole outage in order, down to the UPS shutdown command', () => {
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr}`);
    const out = result.stdout;
    const steps: Array<[string, RegExp]> = [
      ['mains failure', /drill\s+mains power fails/],
      ['ONBATT', /ups\s+ONBATT: UPS ippon on battery/],
      ['shed stage', /stage\s+stage shed starts/],
      ['shed guest', /guest\s+shutdown VM 101 \(web01\) on pve2/],
      ['force-stop', /guest\s+VM 103 \(win11-desktop\) on pve2 did not stop in time: force-stop/],
      ['shed done', /stage\s+stage shed done: 4 stopped/],
      ['LOWBATT', /ups\s+LOWBATT: UPS ippon battery is low/],
      ['final stage', /stage\s+stage shutdown starts \(final\)/],
      ['group 1', /stage\s+shutdown: group 1 \(1 guest\)/],
      ['group 2', /stage\s+shutdown: group 2 \(4 guests\)/],
      ['HA guest', /guest\s+shutdown VM 104 \(monitoring\) on pve3 through HA/],
      ['group 3', /stage\s+shutdown: group 3 \(1 guest\)/],
      ['NAS stopped', /guest\s+VM 110 \(truenas\) on pve1 stopped after/],
      ['HA disarm', /host\s+HA disarmed/],
      ['pve3 shutdown', /host\s+node pve3: shutdown sent/],
      ['pve2 shutdown', /host\s+node pve2: shutdown sent/],
      ['killpower', /host\s+killpower flag written/],
      ['host command', /host\s+host shutdown command ran/],
      ['UPS command', /ups\s+late in the poweroff the UPS got: .*"S\.5R0003\\r"/],
      ['UPS off', /UPS output off/],
    ];
    let from = 0;
    for (const [name, re] of steps) {
      const m = re.exec(out.slice(from));
      assert.ok(m, `${name} (${re}) missing or out of order in:\n${out}`);
      from += m.index + m[0].length;
    }
    assert.match(out, /nodes sent a shutdown through the API: pve2, pve3/);
    assert.match(out, /killpower flag present: upsmon-shutdown-file/);
    assert.match(out, /guests stopped: 10\n/);
    assert.doesNotMatch(out, /still running/);
    assert.doesNotMatch(out, /could not|failed/);
  });
});
