import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadScenario, parseScenario, parseScenarioText, ScenarioError } from '../../../src/sim/pve/scenario.js';
import { SimCluster } from '../../../src/sim/pve/cluster.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { baseScenario } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../config/sim-cluster.yaml', import.meta.url));

function rejects(edit: (s: Record<string, unknown>) => void, message: RegExp): void {
  const s = baseScenario();
  edit(s);
  assert.throws(
    () => parseScenario(s, 'test.yaml'),
    (err: unknown) => err instanceof ScenarioError && message.test(err.message),
  );
}

describe('scenario files', () => {
  it('loads the example cluster: 3 nodes, Ceph MONs on pve1 and pve2, the guests the README describes', () => {
    const s = loadScenario(EXAMPLE);
    const c = new SimCluster(s, new ManualClock());
    assert.deepEqual([...c.nodes.keys()], ['pve1', 'pve2', 'pve3']);
    assert.equal(c.localNode.name, 'pve1');
    assert.deepEqual(
      [...c.nodes.values()].filter((n) => n.cephMon).map((n) => n.name),
      ['pve1', 'pve2'],
    );
    const guests = [...c.guests.values()];
    assert.ok(guests.length >= 10);
    assert.ok(guests.some((g) => g.tags.includes('ups-shed')));
    assert.ok(guests.some((g) => g.tags.includes('critical')));
    assert.equal(c.guest(110).name, 'truenas');
    assert.ok(guests.some((g) => c.haManaged(g)));
    assert.ok(guests.some((g) => g.template));
    assert.ok(guests.some((g) => !g.template && !g.running));
    assert.ok(guests.some((g) => g.ignoresAcpi));
    assert.ok(guests.some((g) => g.type === 'lxc'));
    assert.equal(c.shutdownPolicy(), 'conditional');
  });

  it('reads JSON as well as YAML, with defaults filled in', () => {
    const s = parseScenarioText('{"nodes":[{"name":"solo"}],"guests":[{"vmid":100,"node":"solo","tags":"a;b"}]}');
    assert.equal(s.cluster.version, '9.2.11');
    assert.equal(s.nodes[0]!.online, true);
    assert.equal(s.guests[0]!.status, 'stopped');
    const c = new SimCluster(s, new ManualClock());
    assert.deepEqual(c.guest(100).tags, ['a', 'b']);
    assert.equal(c.localNode.name, 'solo', 'the first node is local by default');
  });

  it('names the bad key and why', () => {
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[0]!.vmid = 99), /guests\.0\.vmid: Too small/);
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[0]!.shutdownSecs = 5), /guests\.0: Unrecognized key: "shutdownSecs"/);
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[1]!.vmid = 100), /guests\.1\.vmid: duplicate vmid 100/);
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[0]!.node = 'pve9'), /guests\.0\.node: no node 'pve9'/);
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[0]!.startup = 'first'), /guests\.0\.startup: unable to parse 'first'/);
    rejects((s) => ((s.guests as Array<Record<string, unknown>>)[6]!.status = 'paused'), /only qemu guests can be paused/);
    rejects((s) => ((s.nodes as Array<Record<string, unknown>>)[1]!.local = true), /more than one local node/);
    rejects((s) => (s.faults = [{ kind: 'node-offline', node: 'pve7', at: 1 }]), /faults\.0\.node: no node 'pve7'/);
    rejects((s) => (s.faults = [{ kind: 'explode' }]), /faults\.0\.kind/);
    assert.throws(() => parseScenarioText('nodes: [', 'broken.yaml'), /^ScenarioError: broken\.yaml: /);
  });
});
