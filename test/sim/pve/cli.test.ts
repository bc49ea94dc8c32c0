import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { EXIT_OK } from '../../../src/core/cli-io.js';
import { captureIo, rejectsUsage } from '../../helpers/cli-io.js';
import { runPveSimCommand } from '../../../src/sim/pve/cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../config/sim-cluster.yaml', import.meta.url));


function get(port: number, ca: string, auth: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`https://127.0.0.1:${port}/api2/json${path}`, { ca, headers: { authorization: auth } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}


describe('pvepower sim pve', () => {
  it('prints one JSON line, serves the scenario until stopped, then removes the CA file', async () => {
    const { io, out, err, announced } = captureIo();
    const stop = new AbortController();
    const run = runPveSimCommand({ scenario: EXAMPLE, port: '0', timeScale: '20' }, io, stop.signal);
    const line = await announced;
    assert.equal(out.length, 1);
    assert.ok(line.endsWith('\n'));
    const info = JSON.parse(line) as { port: number; ca: string; fingerprint: string; token_id: string; token_secret: string };
    assert.deepEqual(Object.keys(info), ['port', 'ca', 'fingerprint', 'token_id', 'token_secret']);
    assert.equal(info.token_id, 'pvepower@pve!ups');
    assert.equal(info.token_secret, '5b3f0c1e-7a2d-4c3b-9e8f-0123456789ab');
    const r = await get(info.port, readFileSync(info.ca, 'utf8'), `PVEAPIToken=${info.token_id}=${info.token_secret}`, '/cluster/status');
    assert.equal(r.status, 200);
    assert.match(r.body, /"name":"homelab"/);
    assert.match(err.join(''), /cluster homelab \(PVE 9\.2\.11\), 3 nodes/);

    stop.abort();
    assert.equal(await run, EXIT_OK);
    assert.equal(existsSync(info.ca), false);
  });

  it('rejects bad flags and bad scenarios as usage errors', async () => {
    await rejectsUsage((io) => runPveSimCommand({}, io), /needs --scenario FILE/);
    await rejectsUsage((io) => runPveSimCommand({ scenario: EXAMPLE, port: '70000' }, io), /--port: invalid value "70000"/);
    await rejectsUsage((io) => runPveSimCommand({ scenario: EXAMPLE, timeScale: '0' }, io), /--time-scale: invalid value "0"/);
    await rejectsUsage((io) => runPveSimCommand({ scenario: '/nonexistent/cluster.yaml', port: 0 }, io), /ENOENT/);
    await rejectsUsage((io) => runPveSimCommand({ scenario: fileURLToPath(import.meta.url), port: 0 }, io), /invalid scenario|cli\.test\.ts/);
  });
});
