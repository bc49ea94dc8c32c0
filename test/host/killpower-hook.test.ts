import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KILLPOWER_MAGIC } from '../../src/host/host.js';
import { recordingScript, tempDir } from './recorder.js';

const HOOK = fileURLToPath(new URL('../../systemd/pvepower-killpower.shutdown', import.meta.url));

/**
 * Runs the hook with every path and command pointed at a temp dir: pvepower and the reboot
 * command are recording scripts, the defaults file is ours (never /etc/default/pvepower).
 */
function setup(opts: { flag?: string; wait?: string; killpowerExit?: number } = {}) {
  const dir = tempDir();
  const flag = join(dir, 'killpower');
  if (opts.flag !== undefined) writeFileSync(flag, opts.flag);
  const pvepower = recordingScript(dir, 'pvepower', { exitCode: opts.killpowerExit ?? 0 });
  const reboot = recordingScript(dir, 'reboot');
  const defaults = join(dir, 'defaults');
  writeFileSync(
    defaults,
    [
      `PVEPOWER='${pvepower.path}'`,
      `PVEPOWER_CONFIG='${join(dir, 'pvepower.yaml')}'`,
      `KILLPOWER_FLAG='${flag}'`,
      `REBOOT='${reboot.path} --now'`,
      ...(opts.wait !== undefined ? [`POWEROFF_WAIT=${opts.wait}`] : []),
      '',
    ].join('\n'),
  );
  const run = (verb: string) =>
    spawnSync('sh', [HOOK, verb], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PVEPOWER_DEFAULTS: defaults }, encoding: 'utf8' });
  return { dir, pvepower, reboot, run };
}

describe('late-poweroff hook', () => {
  it('runs pvepower killpower when the flag holds the magic', () => {
    const t = setup({ flag: KILLPOWER_MAGIC });
    const res = t.run('poweroff');
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(t.pvepower.runs(), [[`killpower --config ${join(t.dir, 'pvepower.yaml')}`, '']]);
    assert.deepEqual(t.reboot.runs(), []);
    assert.match(res.stderr, /telling the UPS to shut down/);
  });

  it('does nothing without the flag, with a foreign flag, or on reboot/kexec', () => {
    for (const [flag, verb] of [[undefined, 'poweroff'], ['not ours', 'poweroff'], [KILLPOWER_MAGIC, 'reboot'], [KILLPOWER_MAGIC, 'kexec']] as const) {
      const t = setup({ flag });
      const res = t.run(verb);
      assert.equal(res.status, 0, res.stderr);
      assert.deepEqual(t.pvepower.runs(), [], `flag ${flag ?? 'absent'}, ${verb}`);
    }
  });

  it('accepts halt and a flag with a trailing newline (as other NUT writers leave it)', () => {
    const t = setup({ flag: `${KILLPOWER_MAGIC}\n` });
    assert.equal(t.run('halt').status, 0);
    assert.equal(t.pvepower.runs().length, 1);
  });

  it('with POWEROFF_WAIT set, reboots after the UPS command in case mains came back', () => {
    const t = setup({ flag: KILLPOWER_MAGIC, wait: '0' });
    assert.equal(t.run('poweroff').status, 0);
    assert.equal(t.pvepower.runs().length, 1);
    assert.deepEqual(t.reboot.runs(), [['--now', '']]);
  });

  it('does not reboot when the UPS command failed, and reports its exit status', () => {
    const t = setup({ flag: KILLPOWER_MAGIC, wait: '0', killpowerExit: 4 });
    const res = t.run('poweroff');
    assert.equal(res.status, 4);
    assert.match(res.stderr, /exit status 4/);
    assert.deepEqual(t.reboot.runs(), []);
  });
});
