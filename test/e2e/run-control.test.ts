import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPveSimulator, type PveSimulator } from '../../src/sim/pve/server.js';
import { startUpsSimulator, type UpsSimulator } from '../../src/sim/ups/server.js';
import { configYaml, guestPosts, outageScenario, recordingShutdownScript, runCli, spawnCli, tempDir, until, writeSecret } from './helpers.js';

/** `pvepower run` as a process: the control socket (`trigger`), SIGHUP reload and SIGTERM. */
describe('pvepower run: trigger, reload, stop', () => {
  let pveSim: PveSimulator;
  let upsSim: UpsSimulator;
  let daemon: ChildProcess;
  let stderr = '';
  const { dir, cleanup } = tempDir('pvepower-run-');
  const configFile = join(dir, 'pvepower.yaml');
  let goodConfig = '';
  let recorder: ReturnType<typeof recordingShutdownScript>;

  before(async () => {
    pveSim = await startPveSimulator({ scenario: outageScenario() as never, timeScale: 20 });
    upsSim = await startUpsSimulator({ pty: true, scale: 1, seed: 5 });
    recorder = recordingShutdownScript(dir, join(dir, 'killpower'));
    goodConfig = configYaml({
      sim: pveSim,
      secretFile: writeSecret(dir, pveSim.tokenSecret),
      dir,
      shutdownCommand: recorder.script,
      upsPort: upsSim.ptyPath!,
    }).replace('level: error', 'level: info');
    writeFileSync(configFile, goodConfig);
    daemon = spawnCli(['run', '--config', configFile]);
    daemon.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await until(() => stderr.includes('pvepower started'), 20_000, 'the daemon to start');
  });

  after(async () => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    await pveSim.close();
    await upsSim.close();
    cleanup();
  });

  it('refuses an unknown stage and names the stages there are', async () => {
    const r = await runCli(['trigger', 'nosuch', '--config', configFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no stage 'nosuch' \(stages: shed, shutdown\)/);
  });

  it('fires a stage by hand while on line power: the shed guests get their shutdown', async () => {
    const shed = (outageScenario().guests as { vmid: number; tags?: string[]; status?: string }[]).filter(
      (g) => g.tags?.includes('ups-shed') && g.status !== 'stopped',
    );
    assert.ok(shed.length > 0);
    const r = await runCli(['trigger', 'shed', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stage shed triggered/);
    await until(() => shed.every((g) => guestPosts(pveSim, g.vmid).some((e) => /status\/shutdown$/.test(e.path))), 15_000, 'shed shutdowns');
    const again = await runCli(['trigger', 'shed', '--config', configFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already fired/);
  });

  it('keeps the running config when a SIGHUP finds an invalid one, and reloads a valid one', async () => {
    writeFileSync(configFile, goodConfig.replace('pollinterval: 1s', 'pollinterval: 1 second'));
    daemon.kill('SIGHUP');
    await until(() => stderr.includes('configuration not reloaded'), 10_000, 'the refusal');
    assert.match(stderr, /pvepower\.yaml:\d+:\d+ ups\.pollinterval: /);
    writeFileSync(configFile, goodConfig);
    daemon.kill('SIGHUP');
    await until(() => stderr.includes('configuration reloaded'), 10_000, 'the reload');
  });

  it('stops cleanly on SIGTERM; a shed stage never touched the host', async () => {
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.equal(recorder.runs().length, 0);
  });
});
