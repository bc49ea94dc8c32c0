import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { pemFingerprint } from '../../../src/sim/pve/pki.js';
import type { PveSimulator } from '../../../src/sim/pve/server.js';
import { api, baseScenario, login, startSim } from './helpers.js';

const READONLY = 'ups@pve!readonly=66666666-7777-8888-9999-000000000000';

for (const schema of ['apidata.json', 'built-in table'] as const) {
  describe(`PVE simulator HTTP API (${schema})`, () => {
    let sim: PveSimulator;
    before(async () => {
      sim = await startSim(baseScenario(), schema === 'built-in table' ? { apidataPath: false } : {});
    });
    after(() => sim.close());

    it('validates against the schema it says', () => {
      if (schema === 'built-in table') assert.equal(sim.schemaSource, 'built-in table');
      else assert.match(sim.schemaSource, /apidata\.json$/);
    });

    it('wraps answers in {"data":…} with exactly application/json;charset=UTF-8', async () => {
      const r = await api(sim, 'GET', '/version');
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json;charset=UTF-8');
      assert.deepEqual(Object.keys(r.body!), ['data']);
      assert.deepEqual(r.data, { version: '9.2.11', release: '9.2', repoid: (r.data as { repoid: string }).repoid });
      assert.match((r.data as { repoid: string }).repoid, /^[0-9a-f]{8}$/);
    });

    it('reports errors in the reason phrase and in a {"data":null,"message"} body', async () => {
      const r = await api(sim, 'POST', '/nodes/pve3/lxc/107/status/shutdown');
      assert.equal(r.status, 500);
      assert.equal(r.reason, 'CT 107 not running');
      assert.equal(r.headers['content-type'], 'application/json;charset=UTF-8');
      assert.deepEqual(r.body, { data: null, message: 'CT 107 not running\n' });
    });

    it('rejects unknown parameters with the exact PVE error', async () => {
      const r = await api(sim, 'POST', '/nodes/pve1/qemu/100/status/shutdown', { params: { timeout: 60, bogus: 1 } });
      assert.equal(r.status, 400);
      assert.equal(r.reason, 'Parameter verification failed.');
      assert.deepEqual(r.body, {
        data: null,
        message: 'Parameter verification failed.\n',
        errors: { bogus: 'property is not defined in schema and the schema does not allow additional properties' },
      });
      assert.equal(sim.cluster.guest(100).running, true, 'nothing happened');
    });

    it("takes booleans only as 0|1 in forms, integers by PVE's regex, and checks minimum and enum", async () => {
      const r = await api(sim, 'POST', '/nodes/pve1/qemu/100/status/shutdown', { params: { forceStop: 'true', timeout: '1.5' } });
      assert.deepEqual(r.body?.errors, { forceStop: "type check ('boolean') failed - got 'true'", timeout: "type check ('integer') failed - got '1.5'" });
      const min = await api(sim, 'POST', '/nodes/pve1/qemu/100/status/shutdown', { params: { timeout: -5 } });
      assert.deepEqual(min.body?.errors, { timeout: 'value must have a minimum value of 0' });
      const en = await api(sim, 'POST', '/nodes/pve1/status', { params: { command: 'halt' } });
      assert.deepEqual(en.body?.errors, { command: "value 'halt' does not have a value in the enumeration 'reboot, shutdown'" });
      const missing = await api(sim, 'POST', '/nodes/pve1/status');
      assert.deepEqual(missing.body?.errors, { command: 'property is missing and it is not optional' });
    });

    it('checks path parameters too (pve-vmid format)', async () => {
      const r = await api(sim, 'GET', '/nodes/pve1/qemu/99/status/current');
      assert.deepEqual(r.body?.errors, { vmid: 'invalid format - value does not look like a valid VM ID\n' });
      const dup = await api(sim, 'GET', '/nodes/pve1/qemu/100/status/current', { params: { vmid: 101 } });
      assert.deepEqual(dup.body?.errors, { vmid: 'duplicate parameter (already defined in URI) with conflicting values!' });
    });

    it('accepts JSON bodies with JSON booleans', async () => {
      const r = await api(sim, 'PUT', '/cluster/ceph/flags/noout', { json: { value: true } });
      assert.equal(r.status, 200, r.raw);
      assert.equal(sim.cluster.cephFlags.noout, true);
      await api(sim, 'PUT', '/cluster/ceph/flags/noout', { params: { value: 0 } });
    });

    it('answers 501 for unknown methods', async () => {
      const r = await api(sim, 'GET', '/nodes/pve1/qemu/100/bogus');
      assert.equal(r.status, 501);
      assert.equal(r.reason, "Method 'GET /nodes/pve1/qemu/100/bogus' not implemented");
      assert.deepEqual(r.body, { data: null, message: "Method 'GET /nodes/pve1/qemu/100/bogus' not implemented" });
      const del = await api(sim, 'DELETE', '/version');
      assert.equal(del.reason, "Method 'DELETE /version' not implemented");
      // In the official schema, but not simulated:
      const network = await api(sim, 'GET', '/nodes/pve1/network');
      assert.equal(network.reason, "Method 'GET /nodes/pve1/network' not implemented");
    });

    it('treats node localhost as the local node, as pveproxy does', async () => {
      const r = await api(sim, 'GET', '/nodes/localhost/qemu');
      assert.deepEqual(
        (r.data as Array<{ vmid: number }>).map((g) => g.vmid),
        [100],
      );
    });

    it('answers 595 for a path proxied to an offline node, before checking parameters', async () => {
      sim.cluster.powerOffNode('pve3');
      try {
        const r = await api(sim, 'POST', '/nodes/pve3/qemu/108/status/start', { params: { nonsense: 1 } });
        assert.equal(r.status, 595);
        assert.equal(r.reason, 'No route to host');
        assert.equal(r.raw, '');
        const cluster = await api(sim, 'GET', '/cluster/resources', { params: { type: 'node' } });
        assert.equal(cluster.status, 200, '/cluster is answered locally');
        const unknown = await api(sim, 'GET', '/nodes/pve9/qemu');
        assert.equal(unknown.status, 500);
        assert.match(unknown.reason, /^hostname lookup 'pve9' failed/);
      } finally {
        sim.cluster.powerOnNode('pve3');
      }
    });
  });
}

describe('PVE simulator authentication', () => {
  let sim: PveSimulator;
  before(async () => {
    sim = await startSim();
  });
  after(() => sim.close());

  it('serves TLS with a certificate from the CA it wrote to caPath', () => {
    const ca = readFileSync(sim.caPath, 'utf8');
    assert.equal(ca, sim.caPem);
    assert.ok(new X509Certificate(ca).ca);
    assert.match(sim.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('accepts the API token and names the token user in tasks', async () => {
    const r = await api(sim, 'POST', '/nodes/pve2/qemu/101/status/stop');
    assert.equal(r.status, 200);
    assert.match(String(r.data), /:ups@pve!daemon:$/);
  });

  it('rejects a wrong secret, an unknown token and a missing login with bodyless 401s, 3 s later', async () => {
    const started = sim.clock.now();
    const wrong = await api(sim, 'GET', '/version', { auth: { token: 'ups@pve!daemon=00000000-0000-0000-0000-000000000000' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.reason, 'invalid token value!');
    assert.equal(wrong.raw, '');
    assert.ok(sim.clock.now() - started >= 3000, 'pveproxy delays unauthorized answers by 3 s');
    const unknown = await api(sim, 'GET', '/version', { auth: { token: 'ups@pve!nope=x' } });
    assert.equal(unknown.reason, "no such token 'nope' for user 'ups@pve'");
    const user = await api(sim, 'GET', '/version', { auth: { token: 'eve@pve!x=y' } });
    assert.equal(user.reason, "no such user ('eve@pve')");
    const none = await api(sim, 'GET', '/version', { auth: 'none' });
    assert.equal(none.status, 401);
    assert.equal(none.reason, 'No ticket');
    // The secret is split off at the last '=', so a token id may not contain one but the header may.
    const header = await api(sim, 'GET', '/version', { auth: { header: `PVEAPIToken=${sim.tokenId}=${sim.tokenSecret}` } });
    assert.equal(header.status, 200);
  });

  it('logs in with a password and wants the CSRF token on writes', async () => {
    const bad = await api(sim, 'POST', '/access/ticket', { auth: 'none', params: { username: 'root@pam', password: 'nope' } });
    assert.equal(bad.status, 401);
    assert.equal(bad.reason, 'authentication failure');
    assert.deepEqual(bad.body, { data: null, message: 'authentication failure\n' });

    const r = await api(sim, 'POST', '/access/ticket', { auth: 'none', params: { username: 'root', realm: 'pam', password: 'rootpw' } });
    const d = r.data as { username: string; ticket: string; CSRFPreventionToken: string; clustername: string; cap: Record<string, unknown> };
    assert.equal(d.username, 'root@pam');
    assert.match(d.ticket, /^PVE:root@pam:[0-9A-F]{8}::/);
    assert.match(d.CSRFPreventionToken, /^[0-9A-F]{8}:/);
    assert.equal(d.clustername, 'lab');
    assert.ok(d.cap.vms);

    const get = await api(sim, 'GET', '/cluster/status', { auth: { ticket: d.ticket } });
    assert.equal(get.status, 200, 'GET needs no CSRF token');
    const noCsrf = await api(sim, 'POST', '/nodes/pve3/qemu/108/status/start', { auth: { ticket: d.ticket } });
    assert.equal(noCsrf.status, 401);
    assert.equal(noCsrf.reason, 'Permission denied - invalid csrf token');
    const ok = await api(sim, 'POST', '/nodes/pve3/qemu/108/status/start', { auth: { ticket: d.ticket, csrf: d.CSRFPreventionToken } });
    assert.equal(ok.status, 200);
    assert.match(String(ok.data), /:qmstart:108:root@pam:$/);

    const forged = await api(sim, 'GET', '/version', { auth: { ticket: d.ticket.replace('root@pam', 'ups@pve') } });
    assert.equal(forged.reason, 'permission denied - invalid PVE ticket');
    const renewed = await api(sim, 'POST', '/access/ticket', { auth: 'none', params: { username: 'root@pam', password: d.ticket } });
    assert.equal(renewed.status, 200, 'a valid ticket renews itself');
  });

  it('expires tickets after two hours', async () => {
    const { ticket } = await login(sim, 'ups@pve', 'upspw');
    const fast = await startSim(baseScenario(), { timeScale: 20_000 });
    try {
      const t = await login(fast, 'ups@pve', 'upspw');
      await new Promise((r) => setTimeout(r, 400)); // > 2 h at this scale
      const r = await api(fast, 'GET', '/version', { auth: { ticket: t.ticket } });
      assert.equal(r.reason, 'permission denied - invalid PVE ticket');
    } finally {
      await fast.close();
    }
    assert.equal((await api(sim, 'GET', '/version', { auth: { ticket } })).status, 200);
  });

  it('refuses API tokens where the schema says allowtoken 0', async () => {
    const r = await api(sim, 'POST', '/access/ticket', { params: { username: 'root@pam', password: 'rootpw' } });
    assert.equal(r.status, 403);
    assert.equal(r.reason, "Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.");
  });

  it('checks token privileges: 403 Permission check failed (/vms/100, VM.PowerMgmt)', async () => {
    const r = await api(sim, 'POST', '/nodes/pve1/qemu/100/status/shutdown', { auth: { token: READONLY } });
    assert.equal(r.status, 403);
    assert.equal(r.reason, 'Permission check failed (/vms/100, VM.PowerMgmt)');
    assert.deepEqual(r.body, { data: null, message: 'Permission check failed (/vms/100, VM.PowerMgmt)\n' });
    const node = await api(sim, 'POST', '/nodes/pve2/status', { auth: { token: READONLY }, params: { command: 'shutdown' } });
    assert.equal(node.reason, 'Permission check failed (/nodes/pve2, Sys.PowerMgmt)');
    assert.equal(sim.cluster.node('pve2').state, 'online');
    const read = await api(sim, 'GET', '/nodes/pve1/qemu/100/status/current', { auth: { token: READONLY } });
    assert.equal(read.status, 200);
  });

  it('lets only root@pam use skiplock', async () => {
    const r = await api(sim, 'POST', '/nodes/pve2/qemu/105/status/stop', { params: { skiplock: 1 } });
    assert.deepEqual(r.body?.errors, { skiplock: 'Only root may use this option.' });
  });

  it('keeps the proxying order: permissions before 595', async () => {
    sim.cluster.powerOffNode('pve3');
    try {
      const r = await api(sim, 'POST', '/nodes/pve3/qemu/108/status/start', { auth: { token: READONLY } });
      assert.equal(r.status, 403);
    } finally {
      sim.cluster.powerOnNode('pve3');
    }
  });

  it('hands out the node certificate fingerprint as GET /nodes ssl_fingerprint', async () => {
    const r = await api(sim, 'GET', '/nodes');
    const nodes = r.data as Array<{ node: string; ssl_fingerprint: string; status: string }>;
    assert.deepEqual(
      nodes.map((n) => n.node),
      ['pve1', 'pve2', 'pve3'],
    );
    for (const n of nodes) assert.equal(n.ssl_fingerprint, sim.fingerprint);
    assert.notEqual(pemFingerprint(sim.caPem), sim.fingerprint, 'the leaf, not the CA');
  });
});
