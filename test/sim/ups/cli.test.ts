import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { CliError, EXIT_OK, EXIT_USAGE, type CliIo } from '../../../src/core/cli-io.js';
import { runUpsSimCommand, type UpsSimCommandOptions } from '../../../src/sim/ups/cli.js';
import { UpsSimControl } from '../../../src/sim/ups/client.js';
import type { UpsState } from '../../../src/sim/ups/model.js';

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  let announce: (line: string) => void = () => undefined;
  const announced = new Promise<string>((resolve) => (announce = resolve));
  const io: CliIo = {
    out: (text) => {
      out.push(text);
      announce(text);
    },
    err: (text) => void err.push(text),
  };
  return { io, out, err, announced };
}

async function rejectsUsage(options: UpsSimCommandOptions, message: RegExp): Promise<void> {
  const { io, out } = captureIo();
  const err = await runUpsSimCommand(options, io).then(
    () => assert.fail('expected a usage error'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CliError, String(err));
  assert.equal(err.exitCode, EXIT_USAGE);
  assert.match(err.message, message);
  assert.deepEqual(out, [], 'nothing started');
}

describe('pvepower sim ups', () => {
  it('prints the pty and control paths, serves until stopped, then cleans up', async () => {
    const { io, out, err, announced } = captureIo();
    const stop = new AbortController();
    const run = runUpsSimCommand({ pty: true, timeScale: '10', runtime: '5m', load: '50' }, io, stop.signal);
    const line = await announced;
    assert.equal(out.length, 1);
    assert.ok(line.endsWith('\n'));
    const { pty, control } = JSON.parse(line) as { pty: string; control: string };
    assert.match(pty, /^\/dev\/pts\/\d+$/);
    assert.ok(existsSync(control));

    const client = await UpsSimControl.connect(control);
    const { state } = (await client.call({ cmd: 'mains', on: false })) as { state: UpsState };
    assert.equal(state.output.loadPercent, 50);
    assert.ok(Math.abs(state.battery.runtimeS - 300) <= 1, `runtime ${state.battery.runtimeS} s at the starting load`);
    assert.ok(err.some((l) => / EV MAINS_LOST\n$/.test(l)), 'events go to stderr');
    await client.close();

    stop.abort();
    assert.equal(await run, EXIT_OK);
    assert.equal(existsSync(control), false);
    assert.equal(existsSync(pty), false, 'the pty is gone with its relay');
  });

  it('refuses to start without --pty or with bad values', async () => {
    await rejectsUsage({}, /--pty/);
    await rejectsUsage({ pty: true, timeScale: '0' }, /--time-scale/);
    await rejectsUsage({ pty: true, load: 'lots' }, /--load/);
    await rejectsUsage({ pty: true, charge: 101 }, /--charge/);
    await rejectsUsage({ pty: true, runtime: 'forever' }, /--runtime/);
    await rejectsUsage({ pty: true, runtime: '10m', load: 0 }, /--runtime/);
  });
});
