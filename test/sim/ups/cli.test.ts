import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { EXIT_OK } from '../../../src/core/cli-io.js';
import { captureIo, rejectsUsage } from '../../helpers/cli-io.js';
import { runUpsSimCommand } from '../../../src/sim/ups/cli.js';
import { UpsSimControl } from '../../../src/sim/ups/client.js';
import type { UpsState } from '../../../src/sim/ups/model.js';



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
    await rejectsUsage((io) => runUpsSimCommand({}, io), /--pty/);
    await rejectsUsage((io) => runUpsSimCommand({ pty: true, timeScale: '0' }, io), /--time-scale/);
    await rejectsUsage((io) => runUpsSimCommand({ pty: true, load: 'lots' }, io), /--load/);
    await rejectsUsage((io) => runUpsSimCommand({ pty: true, charge: 101 }, io), /--charge/);
    await rejectsUsage((io) => runUpsSimCommand({ pty: true, runtime: 'forever' }, io), /--runtime/);
    await rejectsUsage((io) => runUpsSimCommand({ pty: true, runtime: '10m', load: 0 }, io), /--runtime/);
  });
});
