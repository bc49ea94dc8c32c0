import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { KILLPOWER_MAGIC, runCommand, splitCommandLine, SystemHost } from '../../src/host/host.js';
import { recordingScript, tempDir } from './recorder.js';

function host(dir: string, opts: { shutdownCommand?: string; wallCommand?: string; bootIdPath?: string } = {}) {
  return new SystemHost({
    killpowerFlagPath: join(dir, 'killpower'),
    shutdownCommand: opts.shutdownCommand ?? join(dir, 'missing-shutdown'),
    wallCommand: opts.wallCommand ?? '',
    bootIdPath: opts.bootIdPath ?? join(dir, 'boot_id'),
    logger: silentLogger(),
  });
}

describe('splitCommandLine', () => {
  it('splits words like a shell, without expanding anything', () => {
    assert.deepEqual(splitCommandLine('/usr/bin/prog -h +0'), ['/usr/bin/prog', '-h', '+0']);
    assert.deepEqual(splitCommandLine(`  cmd  'a b'  "c \\"d\\" $HOME"  e\\ f ''`), ['cmd', 'a b', 'c "d" $HOME', 'e f', '']);
    assert.deepEqual(splitCommandLine(`x"y"'z'`), ['xyz']);
    assert.deepEqual(splitCommandLine(`"a\\b"`), ['a\\b']);
  });

  it('rejects unterminated quotes and empty commands', () => {
    assert.throws(() => splitCommandLine(`cmd 'open`), /unterminated single quote/);
    assert.throws(() => splitCommandLine(`cmd "open`), /unterminated double quote/);
    assert.throws(() => splitCommandLine('cmd \\'), /trailing backslash/);
    assert.throws(() => splitCommandLine('   '), /empty command/);
  });
});

describe('SystemHost killpower flag', () => {
  it('writes exactly the upsmon magic, atomically (no temporary file left), replacing an old flag', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'killpower'), 'old content');
    const h = host(dir);
    await h.writeKillpowerFlag();
    assert.equal(readFileSync(join(dir, 'killpower'), 'utf8'), KILLPOWER_MAGIC);
    assert.equal(KILLPOWER_MAGIC, 'upsmon-shutdown-file');
    assert.deepEqual(readdirSync(dir), ['killpower']);
    assert.equal(await h.killpowerFlagSet(), true);
  });

  it('recognises a flag the way upsmon -K does: the first line starts with the magic', async () => {
    const dir = tempDir();
    const h = host(dir);
    assert.equal(await h.killpowerFlagSet(), false);
    writeFileSync(join(dir, 'killpower'), `${KILLPOWER_MAGIC}\n`);
    assert.equal(await h.killpowerFlagSet(), true);
    writeFileSync(join(dir, 'killpower'), 'something else');
    assert.equal(await h.killpowerFlagSet(), false);
  });

  it('removes a stale flag only when it holds the magic', async () => {
    const dir = tempDir();
    const h = host(dir);
    const path = join(dir, 'killpower');
    assert.equal(await h.removeStaleKillpowerFlag(), false);
    writeFileSync(path, 'precious data');
    assert.equal(await h.removeStaleKillpowerFlag(), false);
    assert.equal(readFileSync(path, 'utf8'), 'precious data');
    writeFileSync(path, KILLPOWER_MAGIC);
    assert.equal(await h.removeStaleKillpowerFlag(), true);
    assert.equal(existsSync(path), false);
  });
});

describe('SystemHost commands', () => {
  it('runs the shutdown command with its arguments, no shell', async () => {
    const dir = tempDir();
    const script = recordingScript(dir, 'shutdown.sh');
    await host(dir, { shutdownCommand: `${script.path} -h '+0 now' $HOME` }).runShutdownCommand();
    assert.deepEqual(script.runs(), [['-h +0 now $HOME', '']]);
  });

  it('rejects with the exit status and stderr when the command fails, or cannot run', async () => {
    const dir = tempDir();
    const script = recordingScript(dir, 'fail.sh', { exitCode: 3, stderr: 'not allowed' });
    await assert.rejects(host(dir, { shutdownCommand: script.path }).runShutdownCommand(), /exit status 3: not allowed/);
    await assert.rejects(host(dir).runShutdownCommand(), /missing-shutdown: spawn .* ENOENT/);
    await assert.rejects(runCommand(['/bin/sh', '-c', 'sleep 5'], { timeoutMs: 50 }), /killed by SIGKILL/);
  });

  it('sends notifications to wall on stdin; a failing wall does not reject', async () => {
    const dir = tempDir();
    const wall = recordingScript(dir, 'wall.sh');
    await host(dir, { wallCommand: wall.path }).notify('power failure: shutting down');
    assert.deepEqual(wall.runs(), [['', 'power failure: shutting down ']]);
    const broken = recordingScript(dir, 'broken-wall.sh', { exitCode: 1 });
    await host(dir, { wallCommand: broken.path }).notify('still fine');
  });

  it('reads the boot id', async () => {
    const dir = tempDir();
    const h = host(dir);
    assert.equal(await h.bootId(), undefined);
    writeFileSync(join(dir, 'boot_id'), '0f1e2d3c-aaaa-bbbb-cccc-000011112222\n');
    assert.equal(await h.bootId(), '0f1e2d3c-aaaa-bbbb-cccc-000011112222');
  });
});
