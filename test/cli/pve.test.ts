// The Proxmox-facing CLI commands as child processes against the PVE simulator (config/sim-cluster.yaml):
// `guests` (CA and pinned fingerprint, TLS and auth failures, an offline node), `plan --json`,
// and `check-config` on a broken file. The token secret must never show in any output.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestRow } from '../../src/cli/guests.js';
import type { Plan } from '../../src/policy/types.js';
import { loadScenario, normalizeTags } from '../../src/sim/pve/scenario.js';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { runCli, tempDir, until, writeSecret, type CliResult } from '../e2e/helpers.js';

const SCENARIO = new URL('../../config/sim-cluster.yaml', import.meta.url).pathname;
// 401s come 3 simulated seconds late, as from pveproxy: 0.15 s at ×20.
const SCALE = 20;
const WRONG_SECRET = 'deadbeef-0000-4000-8000-00000000beef';

function expectedRows(): GuestRow[] {
  const scenario = loadScenario(SCENARIO);
  return scenario.guests
    .map((g) => ({
      node: g.node,
      vmid: g.vmid,
      type: g.type,
      name: g.name ?? `vm${g.vmid}`,
      // No guest is paused in the file; a template is never running.
      status: g.status === 'stopped' ? 'stopped' : 'running',
      tags: normalizeTags(g.tags),
      hastate: g.ha ? (typeof g.ha === 'string' ? g.ha : g.ha.state) : null,
      pool: g.pool ?? null,
      template: g.template,
      lock: g.lock ?? null,
    }))
    .sort((a, b) => a.node.localeCompare(b.node) || a.vmid - b.vmid);
}

describe('pvepower guests / plan / check-config against the PVE simulator', () => {
  const tmp = tempDir('cli-pve');
  let sim: PveSimulator;
  let secretFile: string;
  let wrongSecretFile: string;
  const outputs: CliResult[] = [];
  const cli = async (args: string[]) => {
    const r = await runCli(args);
    outputs.push(r);
    return r;
  };
  const flags = () => ['--host', '127.0.0.1', '--port', String(sim.port), '--token-id', sim.tokenId, '--token-secret-file', secretFile];

  before(async () => {
    sim = await startPveSimulator({ scenario: SCENARIO, timeScale: SCALE });
    secretFile = writeSecret(tmp.dir, sim.tokenSecret);
    wrongSecretFile = join(tmp.dir, 'wrong-token');
    writeFileSync(wrongSecretFile, WRONG_SECRET + '\n', { mode: 0o600 });
  });

  after(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('guests --json --ca lists every guest with its node, status, tags and HA state', async () => {
    const r = await cli(['guests', '--json', ...flags(), '--ca', sim.caPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const rows = JSON.parse(r.stdout) as GuestRow[];
    assert.deepEqual(rows, expectedRows());
    assert.equal(rows.length, 12);
    assert.deepEqual(
      rows.filter((g) => g.hastate !== null).map((g) => [g.vmid, g.node, g.hastate]),
      [[104, 'pve3', 'started']],
    );
    assert.deepEqual([...new Set(rows.map((g) => g.node))], ['pve1', 'pve2', 'pve3']);
  });

  it('guests --fingerprint with the simulator\'s fingerprint works like --ca', async () => {
    const r = await cli(['guests', '--json', ...flags(), '--fingerprint', sim.fingerprint]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), expectedRows());
  });

  it('guests prints a table without --json', async () => {
    const r = await cli(['guests', ...flags(), '--ca', sim.caPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NODE\s+VMID\s+TYPE\s+NAME\s+STATUS\s+HA\s+TAGS$/m);
    assert.match(r.stdout, /^pve3\s+104\s+qemu\s+monitoring\s+running\s+started\s+critical$/m);
    assert.match(r.stdout, /^pve2\s+9000\s+qemu \(template\)\s+debian-13-template\s+stopped\s+-\s+-$/m);
  });

  it('a wrong fingerprint: exit 1, a TLS pin error naming the host, no request sent', async () => {
    const before = sim.audit.entries().length;
    const wrong = sim.fingerprint.split(':').reverse().join(':');
    assert.notEqual(wrong, sim.fingerprint);
    const r = await cli(['guests', '--json', ...flags(), '--fingerprint', wrong]);
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /TLS certificate pin mismatch for 127\.0\.0\.1/);
    assert.ok(r.stderr.includes(sim.fingerprint), 'the error shows the certificate it got');
    assert.equal(sim.audit.entries().length, before, 'the simulator saw no request');
  });

  it('a wrong token: exit 1 with an authentication error', async () => {
    const args = ['guests', '--json', '--host', '127.0.0.1', '--port', String(sim.port), '--token-id', sim.tokenId];
    const r = await cli([...args, '--token-secret-file', wrongSecretFile, '--ca', sim.caPath]);
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^pvepower: authentication failed: PVE rejected the credentials \(401 invalid token value!\).*check the API token id and secret/m);
    const unauthorized = sim.audit.entries().filter((e) => e.status === 401);
    assert.ok(unauthorized.length >= 1, 'the simulator refused the token');
  });

  it('plan --json works against the simulator', async () => {
    const config = join(tmp.dir, 'plan.yaml');
    writeFileSync(
      config,
      `proxmox:
  port: ${sim.port}
  token_id: ${sim.tokenId}
  token_secret_file: ${secretFile}
  ca: ${sim.caPath}
stages:
  shed:
    when: { on_battery_for: 30s }
  shutdown:
    when: { low_battery: true }
guests:
  - match: { tags: [ups-shed] }
    stage: shed
    timeout: 60s
  - match: { vmid: [110] }
    group: 3
  - match: {}
    group: 1
`,
    );
    const r = await cli(['plan', '--json', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Plan;
    assert.equal(plan.self, 'pve1');
    assert.deepEqual(plan.hosts.map((h) => [h.node, h.self]), [['pve3', false], ['pve2', false], ['pve1', true]]);
    const vmids = (stage: string) => plan.stages.find((s) => s.name === stage)!.groups.map((g) => [g.group, g.guests.map((p) => p.vmid).sort((a, b) => a - b)]);
    const shed = plan.stages.find((s) => s.name === 'shed')!;
    assert.deepEqual(shed.groups.flatMap((g) => g.guests.map((p) => p.vmid)).sort((a, b) => a - b), [101, 102, 103, 106]);
    const final = plan.stages.find((s) => s.name === 'shutdown')!;
    assert.equal(final.final, true);
    assert.deepEqual(vmids('shutdown'), [
      [1, [100, 104, 105, 107, 108]],
      [3, [110]],
    ]);
    assert.equal(final.groups.flatMap((g) => g.guests).find((p) => p.vmid === 104)!.ha, true);
    assert.deepEqual(sim.audit.entries().filter((e) => e.method !== 'GET'), [], 'plan only reads');
  });

  it('check-config on a broken file prints FILE:LINE:COL key: message and exits 2', async () => {
    const checks: Array<{ lines: string[]; expect: Array<[number, number, string]> }> = [
      {
        // Type errors: each reported at its value.
        lines: [
          'proxmox:',
          '  token_id: pvepower@pve!ups',
          '  ca: /etc/pve/pve-root-ca.pem',
          'stages:',
          '  shutdown:',
          '    when: { on_battery_for: 30 }',
          'guests:',
          '  - match: { tags: [ups-shed] }',
          '    group: 1',
          '    timeout: soon',
        ],
        expect: [
          [6, 29, 'stages.shutdown.when.on_battery_for: a duration needs a unit'],
          [10, 14, 'guests[0].timeout: invalid duration'],
        ],
      },
      {
        // Cross-key checks, once every value is well-formed.
        lines: [
          'proxmox:',
          '  token_id: pvepower@pve!ups',
          '  ca: /etc/pve/pve-root-ca.pem',
          'stages:',
          '  shutdown:',
          '    when: { low_battery: true }',
          'guests:',
          '  - match: { tags: [ups-shed] }',
          '    stage: nosuchstage',
        ],
        expect: [[9, 12, 'guests[0].stage: no stage named nosuchstage (stages: shutdown)']],
      },
    ];
    for (const [n, check] of checks.entries()) {
      const broken = join(tmp.dir, `broken-${n}.yaml`);
      writeFileSync(broken, check.lines.join('\n') + '\n');
      const r = await cli(['check-config', broken]);
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, check.expect.length, r.stdout);
      for (const line of lines) assert.match(line, /^\/\S+:\d+:\d+ [\w.[\]]+: .+$/, `not FILE:LINE:COL key: message: ${line}`);
      for (const [line, col, text] of check.expect) {
        assert.ok(lines.some((l) => l.startsWith(`${broken}:${line}:${col} ${text}`)), `${line}:${col} ${text} in:\n${r.stdout}`);
      }
    }
  });

  it('one node offline: reported unreachable on stderr, the other nodes\' guests still listed', async () => {
    const offline = await startPveSimulator({ scenario: SCENARIO, timeScale: SCALE });
    try {
      offline.inject({ kind: 'node-offline', node: 'pve3', at: 0 });
      await until(() => offline.state().nodes.find((n) => n.name === 'pve3')!.state === 'offline', 5000, 'pve3 offline');
      const secret = writeSecret(tmp.dir, offline.tokenSecret);
      const r = await cli([
        'guests', '--json', '--host', '127.0.0.1', '--port', String(offline.port),
        '--token-id', offline.tokenId, '--token-secret-file', secret, '--ca', offline.caPath,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /node pve3 is unreachable \(offline\); its 4 guests not listed/);
      const rows = JSON.parse(r.stdout) as GuestRow[];
      assert.deepEqual(rows, expectedRows().filter((g) => g.node !== 'pve3'));
    } finally {
      await offline.close();
    }
  });

  it('the token secret appears in no output of any of these runs', () => {
    assert.ok(outputs.length >= 7);
    for (const r of outputs) {
      for (const secret of [sim.tokenSecret, WRONG_SECRET]) {
        assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `secret in the output of a run:\n${r.stdout}${r.stderr}`);
      }
    }
  });
});
