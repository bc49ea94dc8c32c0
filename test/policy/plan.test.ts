import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Guest, NodeInfo } from '../../src/pve/types.js';
import { parseConfig } from '../../src/policy/config.js';
import {
  buildPlan,
  DEFAULT_GUEST_TIMEOUT_MS,
  ESCALATION_ALLOWANCE_MS,
  groupEstimateMs,
  STARTUP_ORDER_RULE,
  startupGroup,
  UNORDERED_GROUP,
  type PlanInput,
} from '../../src/policy/plan.js';
import type { Plan, PlannedGuest } from '../../src/policy/types.js';

const S = 1000;
const MIN = 60 * S;

const HEAD = ['proxmox:', '  token_id: pvepower@pve!ups', '  ca: /etc/pve/pve-root-ca.pem'];
const TWO_STAGES = ['stages:', '  shed: { when: { on_battery_for: 30s } }', '  shutdown: { when: { low_battery: true } }'];
const config = (...lines: string[]) => parseConfig([...HEAD, ...lines].join('\n'), 'test.yaml');

let nextVmid = 100;
function guest(over: Partial<Guest> = {}): Guest {
  const vmid = over.vmid ?? nextVmid++;
  return { node: 'pve1', type: 'qemu', vmid, name: `vm${vmid}`, status: 'running', tags: [], template: false, ...over };
}

const NODES: NodeInfo[] = [
  { node: 'pve1', online: true, local: true },
  { node: 'pve2', online: true },
  { node: 'pve3', online: true },
];

function plan(cfg: ReturnType<typeof config>, guests: Guest[], extra: Partial<PlanInput> = {}): Plan {
  return buildPlan(cfg, { guests, nodes: NODES, self: 'pve1', ...extra });
}

/** Per stage: the groups as [group number, vmids in order]. */
function shape(p: Plan): Record<string, [number, number[]][]> {
  return Object.fromEntries(p.stages.map((s) => [s.name, s.groups.map((g) => [g.group, g.guests.map((x) => x.vmid)] as [number, number[]])]));
}

function planned(p: Plan, vmid: number): PlannedGuest | undefined {
  return p.stages.flatMap((s) => s.groups.flatMap((g) => g.guests)).find((g) => g.vmid === vmid);
}

test('templates, stopped guests, guests on offline nodes and skipped guests stay out', () => {
  const cfg = config('guests:', '  - match: { tags: [no-ups] }', '    action: skip');
  const p = buildPlan(cfg, {
    guests: [
      guest({ vmid: 100 }),
      guest({ vmid: 101, template: true }),
      guest({ vmid: 102, status: 'stopped' }),
      guest({ vmid: 103, status: 'paused' }),
      guest({ vmid: 104, tags: ['no-ups'] }),
      guest({ vmid: 105, node: 'pve3' }),
    ],
    nodes: [NODES[0]!, NODES[1]!, { node: 'pve3', online: false }],
    self: 'pve1',
  });
  assert.deepEqual(shape(p), { shutdown: [[UNORDERED_GROUP, [100]]] });
  assert.deepEqual(p.warnings, ['node pve3 is offline: leaving out 1 guest listed as running there']);
});

test('the first matching rule decides stage, group, action, timeout, escalation and restart', () => {
  const cfg = config(
    ...TWO_STAGES,
    'guests:',
    '  - match: { tags: [ups-shed] }',
    '    stage: shed',
    '    group: 0',
    '    timeout: 1m',
    '    restart_on_power_return: true',
    '  - match: { tags: [critical] }',
    '    group: 2',
    '    action: hibernate',
    '    escalation: leave',
    '  - match: {}',
    '    group: 1',
    '    timeout: 2m',
  );
  const p = plan(cfg, [
    guest({ vmid: 100, tags: ['ups-shed', 'critical'] }),
    guest({ vmid: 101, tags: ['critical'], startup: { down: 240 } }),
    guest({ vmid: 102, tags: ['critical'] }),
    guest({ vmid: 103 }),
  ]);
  assert.deepEqual(shape(p), { shed: [[0, [100]]], shutdown: [[1, [103]], [2, [102, 101]]] });
  assert.deepEqual(planned(p, 100), {
    node: 'pve1',
    type: 'qemu',
    vmid: 100,
    name: 'vm100',
    action: 'shutdown',
    timeoutMs: MIN,
    escalation: 'stop',
    restartOnPowerReturn: true,
    ha: false,
    rule: 'guests[0]',
  });
  assert.equal(planned(p, 101)?.action, 'hibernate');
  assert.equal(planned(p, 101)?.timeoutMs, 240 * S, "no rule timeout: the guest's startup down");
  assert.equal(planned(p, 102)?.timeoutMs, DEFAULT_GUEST_TIMEOUT_MS);
  assert.equal(planned(p, 102)?.escalation, 'leave');
  assert.equal(planned(p, 103)?.rule, 'guests[2]');
  assert.equal(planned(p, 103)?.timeoutMs, 2 * MIN);
  assert.deepEqual(p.warnings, []);
});

test('unmatched guests stop like stopall: unordered first, then highest startup order, VMIDs descending', () => {
  const cfg = config('guests:', '  - match: { vmid: [110] }', '    group: 3');
  const p = plan(cfg, [
    guest({ vmid: 101 }),
    guest({ vmid: 102, startup: { order: 1 } }),
    guest({ vmid: 103, startup: { order: 3, down: 60 } }),
    guest({ vmid: 105, startup: { order: 3 }, node: 'pve2' }),
    guest({ vmid: 104, startup: { up: 30 } }),
    guest({ vmid: 106, startup: { order: 0 } }),
    guest({ vmid: 110, startup: { order: 0 } }),
  ]);
  assert.deepEqual(shape(p).shutdown, [
    [UNORDERED_GROUP, [104, 101]],
    [-4, [105, 103]],
    [-2, [102]],
    [-1, [106]],
    [3, [110]],
  ]);
  const groups = p.stages[0]!.groups;
  assert.deepEqual(
    groups.map((g) => g.label),
    ['no startup order', 'startup order 3', 'startup order 1', 'startup order 0', undefined],
  );
  const g103 = planned(p, 103)!;
  assert.deepEqual([g103.rule, g103.timeoutMs, g103.escalation, g103.action], [STARTUP_ORDER_RULE, 60 * S, 'stop', 'shutdown']);
  assert.equal(planned(p, 101)?.timeoutMs, DEFAULT_GUEST_TIMEOUT_MS);
  assert.equal(startupGroup(undefined), UNORDERED_GROUP);
  assert.ok(startupGroup(1_000_000) > UNORDERED_GROUP && startupGroup(1_000_000) < startupGroup(0));
});

test('a rule without a group orders its guests by startup order inside its own stage', () => {
  const cfg = config(...TWO_STAGES, 'guests:', '  - match: { tags: [ups-shed] }', '    stage: shed');
  const p = plan(cfg, [guest({ vmid: 100, tags: ['ups-shed'], startup: { order: 2 } }), guest({ vmid: 101, tags: ['ups-shed'] }), guest({ vmid: 102 })]);
  assert.deepEqual(shape(p), { shed: [[UNORDERED_GROUP, [101]], [-3, [100]]], shutdown: [[UNORDERED_GROUP, [102]]] });
  assert.equal(planned(p, 100)?.rule, 'guests[0]');
});

test("pvepower's own guest stops last, in the final stage, after every explicit group", () => {
  const cfg = config(
    ...TWO_STAGES,
    'guests:',
    '  - match: { vmid: [150] }',
    '    stage: shed',
    '    timeout: 30s',
    '  - match: { tags: [nas] }',
    '    group: 5',
    '  - match: {}',
    '    group: 1',
  );
  const guests = [guest({ vmid: 150 }), guest({ vmid: 110, tags: ['nas'] }), guest({ vmid: 120 })];
  const p = plan(cfg, guests, { selfVmid: 150 });
  assert.deepEqual(shape(p), { shed: [], shutdown: [[1, [120]], [5, [110]], [6, [150]]] });
  assert.equal(p.stages[1]!.groups[2]!.label, "pvepower's own guest");
  assert.equal(planned(p, 150)?.timeoutMs, 30 * S, 'its rule still sets how it stops');
  assert.deepEqual(p.warnings, ['pvepower runs in VM 150 (vm150): guests[0] puts it in stage shed, but it stops last, in shutdown']);

  const unmatched = plan(config('guests:', '  - match: { tags: [nas] }', '    group: 5'), guests, { selfVmid: 120 });
  assert.deepEqual(shape(unmatched).shutdown, [[UNORDERED_GROUP, [150]], [5, [110]], [6, [120]]]);

  const missing = plan(cfg, guests, { selfVmid: 999 });
  assert.deepEqual(missing.warnings, ['selfVmid 999 is not a running guest of this cluster']);

  const skipped = plan(config('guests:', '  - match: { vmid: [150] }', '    action: skip'), guests, { selfVmid: 150 });
  assert.equal(planned(skipped, 150), undefined, 'an explicit skip holds for it too');
  assert.deepEqual(skipped.warnings, []);
});

test('estimates: a group takes its slowest guest plus the hard-stop allowance; a stage the sum', () => {
  const cfg = config(
    ...TWO_STAGES,
    'guests:',
    '  - match: { tags: [a] }',
    '    stage: shed',
    '    group: 1',
    '    timeout: 1m',
    '  - match: { tags: [b] }',
    '    stage: shed',
    '    group: 1',
    '    timeout: 3m',
    '    escalation: leave',
    '  - match: { tags: [c] }',
    '    group: 1',
    '    timeout: 2m',
    '  - match: {}',
    '    group: 2',
    '    timeout: 5m',
  );
  const p = plan(cfg, [guest({ tags: ['a'] }), guest({ tags: ['b'] }), guest({ tags: ['c'] }), guest({ node: 'pve2' })]);
  const [shed, shutdown] = p.stages;
  assert.equal(shed!.groups[0]!.estimatedMs, 3 * MIN, 'leave: no hard stop follows');
  assert.equal(shed!.estimatedMs, 3 * MIN);
  assert.deepEqual(
    shutdown!.groups.map((g) => g.estimatedMs),
    [2 * MIN + ESCALATION_ALLOWANCE_MS, 5 * MIN + ESCALATION_ALLOWANCE_MS],
  );
  assert.equal(shutdown!.estimatedMs, 7 * MIN + 2 * ESCALATION_ALLOWANCE_MS);
});

test('estimates: more guests on a node than hosts.per_node_limit queue for a slot', () => {
  const g = (node: string, timeoutMs: number): PlannedGuest => ({
    node,
    type: 'qemu',
    vmid: 100,
    name: '',
    action: 'shutdown',
    timeoutMs,
    escalation: 'leave',
    restartOnPowerReturn: false,
    ha: false,
    rule: 'guests[0]',
  });
  // pve1: 60 and 30 start at once; 50 takes the slot freed at 30 (ends 80); 10 the one freed at 60.
  const guests = [g('pve1', 60 * S), g('pve1', 30 * S), g('pve1', 50 * S), g('pve1', 10 * S), g('pve2', 70 * S)];
  assert.equal(groupEstimateMs(guests, 2), 80 * S);
  assert.equal(groupEstimateMs(guests, 1), 150 * S);
  assert.equal(groupEstimateMs(guests, 8), 70 * S);

  const cfg = config('hosts: { per_node_limit: 2 }', 'guests:', '  - match: {}', '    group: 1', '    timeout: 1m');
  const p = plan(cfg, [guest(), guest(), guest()]);
  assert.equal(p.stages[0]!.estimatedMs, 2 * (MIN + ESCALATION_ALLOWANCE_MS));
});

test('a warning when the final stage and the stages before it cannot finish on the battery', () => {
  const cfg = config(
    'stages:',
    '  shed: { when: { on_battery_for: 30s } }',
    '  shutdown: { when: { low_battery: true } }',
    '  drill: { when: { manual: true } }',
    'guests:',
    '  - match: { tags: [shed] }',
    '    stage: shed',
    '    timeout: 4m',
    '    escalation: leave',
    '  - match: { tags: [drill] }',
    '    stage: drill',
    '    timeout: 1h',
    '  - match: {}',
    '    timeout: 10m',
    '    escalation: leave',
  );
  const guests = [guest({ tags: ['shed'] }), guest({ tags: ['drill'] }), guest()];
  const short = plan(cfg, guests, { runtimeMs: 9 * MIN });
  assert.equal(short.runtimeMs, 9 * MIN);
  assert.deepEqual(short.warnings, [
    'plan needs 14m, battery runtime is 9m (stages shed + shutdown): shorten timeouts or let the stages fire earlier',
  ]);
  assert.deepEqual(plan(cfg, guests, { runtimeMs: 14 * MIN }).warnings, [], 'the stage after the final one does not count');
  assert.equal(plan(cfg, guests).runtimeMs, undefined);
});

test('a warning for a rule that matches no guest, or only guests an earlier rule took', () => {
  const cfg = config(
    'guests:',
    '  - match: { tags: [critical] }',
    '    group: 2',
    '  - match: { vmid: [110] }',
    '    group: 3',
    '  - match: { tags: [critical], node: [pve2] }',
    '    group: 4',
    '  - match: {}',
    '    group: 1',
  );
  const p = plan(cfg, [guest({ vmid: 120, tags: ['critical'], node: 'pve2' }), guest({ vmid: 121, tags: ['critical'] })]);
  assert.deepEqual(p.warnings, [
    'guests[1] matches no running guest',
    'guests[2] takes no guest: every guest it matches is taken by an earlier rule',
  ]);
  assert.deepEqual(plan(cfg, []).warnings, [], 'an empty cluster is no reason to doubt the rules');
});

test('hibernate falls back to shutdown for containers and HA guests, with a warning', () => {
  const cfg = config('guests:', '  - match: { tags: [hib] }', '    action: hibernate');
  const p = plan(cfg, [
    guest({ vmid: 100, tags: ['hib'] }),
    guest({ vmid: 101, tags: ['hib'], type: 'lxc' }),
    guest({ vmid: 102, tags: ['hib'], hastate: 'started' }),
  ]);
  assert.deepEqual(
    [100, 101, 102].map((id) => planned(p, id)?.action),
    ['hibernate', 'shutdown', 'shutdown'],
  );
  assert.deepEqual(p.warnings, ['guests[0]: hibernate works for non-HA qemu VMs only; 2 guests shut down instead']);
});

test('HA guests are marked; before PVE 9.2 they bring a warning', () => {
  const guests = [guest({ vmid: 100, hastate: 'started' }), guest({ vmid: 101, hastate: 'ignored' }), guest({ vmid: 102 })];
  const p = plan(config(), guests, { pveVersion: '9.1.4' });
  assert.deepEqual([100, 101, 102].map((id) => planned(p, id)?.ha), [true, false, false]);
  assert.deepEqual(p.warnings, [
    '1 HA guest and PVE 9.1.4 (< 9.2, no HA disarm): HA guests are stopped by setting their HA state, ' +
      'and nodes with HA resources may self-fence (hard reset) once the cluster loses quorum during the host shutdown',
  ]);
  assert.deepEqual(plan(config('ha: { mode: disarm }'), guests, { pveVersion: '8.4.1' }).warnings, [
    'ha.mode is disarm, but PVE 8.4.1 cannot disarm HA (needs 9.2): set ha.mode to auto or stop-states',
  ]);
  assert.deepEqual(plan(config(), guests, { pveVersion: '9.2.11' }).warnings, []);
  assert.deepEqual(plan(config(), guests, { pveVersion: '10.0' }).warnings, []);
  assert.deepEqual(plan(config(), guests).warnings, [], 'no version known: the caller did not check');
  assert.deepEqual(plan(config(), [guest({ vmid: 102 })], { pveVersion: '9.1.4' }).warnings, []);
});

test('hosts: hosts.order first, then the other online nodes with Ceph MONs last, self last', () => {
  const nodes: NodeInfo[] = [
    { node: 'pve1', online: true, local: true, cephMon: true },
    { node: 'pve10', online: true, cephMon: true },
    { node: 'pve2', online: true, cephMon: true },
    { node: 'pve3', online: true },
    { node: 'pve4', online: false },
    { node: 'pve5', online: true },
    { node: 'pve9', online: true },
  ];
  const hosts = (cfg: ReturnType<typeof config>) => buildPlan(cfg, { guests: [], nodes, self: 'pve1' });

  const auto = hosts(config());
  assert.deepEqual(
    auto.hosts.map((h) => [h.node, h.self, h.cephMon]),
    [
      ['pve3', false, false],
      ['pve5', false, false],
      ['pve9', false, false],
      ['pve2', false, true],
      ['pve10', false, true],
      ['pve1', true, true],
    ],
  );
  assert.deepEqual(auto.warnings, []);

  const ordered = hosts(config('hosts:', '  order: [pve9, pve1, pve4, pve3, pve7]'));
  assert.deepEqual(
    ordered.hosts.map((h) => h.node),
    ['pve9', 'pve3', 'pve5', 'pve2', 'pve10', 'pve1'],
    'self and offline nodes in the list are passed over',
  );
  assert.deepEqual(ordered.warnings, ['hosts.order names pve7, which is not a node of this cluster']);

  const monFirst = hosts(config('hosts:', '  order: [pve2]'));
  assert.deepEqual(monFirst.hosts.map((h) => h.node), ['pve2', 'pve3', 'pve5', 'pve9', 'pve10', 'pve1']);
  assert.deepEqual(monFirst.warnings, [
    'Ceph MON node pve2 goes down before pve9, which runs no MON: Ceph wants nodes without monitors powered off first (reorder hosts.order)',
  ]);

  const selfOnly = hosts(config('hosts:', '  node_shutdown: { enabled: false }'));
  assert.deepEqual(selfOnly.hosts, [{ node: 'pve1', self: true, cephMon: true }]);
  assert.equal(selfOnly.self, 'pve1');

  const stranger = buildPlan(config(), { guests: [], nodes, self: 'elsewhere' });
  assert.deepEqual(stranger.hosts.at(-1), { node: 'elsewhere', self: true, cephMon: false });
  assert.deepEqual(stranger.warnings, ["self node elsewhere is not among the cluster's nodes"]);
});

test('64 nodes and 10,000 guests plan completely and in order', () => {
  const cfg = config(
    ...TWO_STAGES,
    'guests:',
    '  - match: { tags: [ups-shed] }',
    '    stage: shed',
    '  - match: { name: ["db-*"] }',
    '    group: 2',
    '  - match: { pool: [infra], type: [lxc] }',
    '    group: 3',
    '  - match: { vmid: [100] }',
    '    group: 4',
  );
  const nodes: NodeInfo[] = Array.from({ length: 64 }, (_, i) => ({ node: `pve${i + 1}`, online: true, cephMon: i < 3 }));
  const guests: Guest[] = Array.from({ length: 10_000 }, (_, i) => {
    const vmid = 100 + i;
    return {
      node: `pve${(i % 64) + 1}`,
      type: i % 3 === 0 ? 'lxc' : 'qemu',
      vmid,
      name: i % 7 === 0 ? `db-${vmid}` : `vm-${vmid}`,
      status: 'running',
      tags: i % 5 === 0 ? ['UPS-Shed'] : [],
      pool: i % 11 === 0 ? 'infra' : undefined,
      template: false,
      startup: i % 4 === 0 ? { order: i % 10 } : undefined,
    } as Guest;
  });
  const p = buildPlan(cfg, { guests, nodes, self: 'pve1' });

  const all = p.stages.flatMap((s) => s.groups.flatMap((g) => g.guests));
  assert.equal(all.length, 10_000);
  assert.equal(new Set(all.map((g) => g.vmid)).size, 10_000);
  assert.equal(p.stages[0]!.groups.flatMap((g) => g.guests).length, 2000, 'every fifth guest is shed');
  for (const s of p.stages) {
    assert.ok(s.groups.every((g, i) => i === 0 || s.groups[i - 1]!.group < g.group), 'groups ascend');
    for (const g of s.groups) assert.ok(g.guests.every((x, i) => i === 0 || g.guests[i - 1]!.vmid > x.vmid), 'VMIDs descend');
  }
  assert.deepEqual(p.stages[1]!.groups.slice(-2).map((g) => g.group), [2, 3], 'the explicit groups after the startup-order ones');
  assert.equal(planned(p, 100)?.rule, 'guests[0]', 'vmid 100 is tagged, and the first rule wins');
  assert.deepEqual(p.warnings, ['guests[3] takes no guest: every guest it matches is taken by an earlier rule']);
  assert.equal(p.hosts.length, 64);
  assert.deepEqual(p.hosts.slice(0, 2).map((h) => h.node), ['pve4', 'pve5']);
  assert.deepEqual(p.hosts.slice(-4).map((h) => h.node), ['pve64', 'pve2', 'pve3', 'pve1']);
});
