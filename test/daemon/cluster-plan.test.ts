import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planFor, supportsDisarmHa, type ClusterSnapshot } from '../../src/daemon/cluster-plan.js';
import { parseConfig } from '../../src/policy/config.js';

const yaml = (extra: string) =>
  `ups: { port: /dev/ttyUSB0 }\nproxmox: { token_id: "pvepower@pve!ups", ca: /etc/pve/pve-root-ca.pem${extra} }\n` +
  `stages:\n  shutdown: { when: { low_battery: true } }\nguests:\n  - match: {}\n    group: 5\n    timeout: 1m\n`;

const cluster: ClusterSnapshot = {
  self: 'pve1',
  quorate: true,
  nodes: [{ node: 'pve1', online: true, local: true }],
  guests: [200, 201, 202].map((vmid) => ({ node: 'pve1', type: 'qemu' as const, vmid, name: `vm${vmid}`, status: 'running', tags: [], template: false })),
};

test('the guest pvepower runs in (proxmox.self_vmid) stops last, after every configured group', () => {
  const plan = planFor(parseConfig(yaml(', self_vmid: 201'), 'c.yaml'), cluster);
  const groups = plan.stages[0]!.groups;
  assert.deepEqual(groups.at(-1)!.guests.map((g) => g.vmid), [201]);
  assert.deepEqual(groups.slice(0, -1).flatMap((g) => g.guests.map((p) => p.vmid)).sort(), [200, 202]);
});

test('without self_vmid every guest follows its rule', () => {
  const plan = planFor(parseConfig(yaml(''), 'c.yaml'), cluster);
  assert.deepEqual(plan.stages[0]!.groups.map((g) => g.guests.length), [3]);
});

test('disarm-ha exists from Proxmox VE 9.2 on', () => {
  assert.equal(supportsDisarmHa('9.2.11'), true);
  assert.equal(supportsDisarmHa('10.0.1'), true);
  assert.equal(supportsDisarmHa('9.1.9'), false);
  assert.equal(supportsDisarmHa(undefined), false);
});
