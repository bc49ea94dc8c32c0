import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/policy/config.js';
import { formatConfigSummary, formatMatch, formatPlanTable, formatTrigger, planToJson } from '../../src/policy/format.js';
import { buildPlan } from '../../src/policy/plan.js';
import type { Guest } from '../../src/pve/types.js';

const cfg = parseConfig(
  [
    'ups: { name: ippon, vendorid: "0665" }',
    'proxmox:',
    '  token_id: pvepower@pve!ups',
    '  ca: /etc/pve/pve-root-ca.pem',
    'stages:',
    '  shed: { when: { on_battery_for: 30s } }',
    '  shutdown: { when: { any: [ { on_battery_for: 10m }, { charge_below: 40 }, { low_battery: true } ] } }',
    '  drill: { when: { manual: true } }',
    'guests:',
    '  - match: { tags: [ups-shed] }',
    '    stage: shed',
    '    timeout: 60s',
    '    restart_on_power_return: true',
    '  - match: { vmid: [110], node: [pve1] }',
    '    group: 3',
    '    timeout: 5m',
    '    escalation: leave',
    '  - match: { name: ["ci-*"] }',
    '    action: stop',
    '    timeout: 20s',
    'hosts: { order: [pve3] }',
  ].join('\n'),
  'test.yaml',
);

const guest = (over: Partial<Guest> & Pick<Guest, 'vmid'>): Guest => ({
  node: 'pve1',
  type: 'qemu',
  name: `vm${over.vmid}`,
  status: 'running',
  tags: [],
  template: false,
  ...over,
});

const plan = buildPlan(cfg, {
  guests: [
    guest({ vmid: 101, name: 'web01', node: 'pve2', tags: ['ups-shed'] }),
    guest({ vmid: 110, name: 'truenas', startup: { order: 0, down: 600 } }),
    guest({ vmid: 104, name: 'monitoring', node: 'pve3', hastate: 'started' }),
    guest({ vmid: 107, name: 'dns', type: 'lxc', node: 'pve2', startup: { order: 1 } }),
    guest({ vmid: 121, name: 'ci-7', type: 'lxc', node: 'pve3' }),
  ],
  nodes: [
    { node: 'pve1', online: true, cephMon: true },
    { node: 'pve2', online: true, cephMon: true },
    { node: 'pve3', online: true },
  ],
  self: 'pve1',
  runtimeMs: 5 * 60_000,
});

test('the plan table: stages with trigger and estimate, groups in run order, aligned guest rows, hosts, warnings', () => {
  assert.equal(
    formatPlanTable(plan),
    [
      'plan for pve1, battery runtime 5m',
      '',
      'stage shed: about 1m10s',
      '  when on battery for 30s',
      '    NODE  VMID  TYPE  NAME        ACTION    TIMEOUT  ESCALATION  RULE           NOTES',
      '  no startup order: 1 guest, about 1m10s',
      '    pve2  101   qemu  web01       shutdown  1m       stop        guests[0]      restart on power return',
      '',
      'stage shutdown (final): about 11m20s',
      '  when any of (on battery for 10m; charge below 40%; low battery)',
      '    NODE  VMID  TYPE  NAME        ACTION    TIMEOUT  ESCALATION  RULE           NOTES',
      '  no startup order: 2 guests, about 3m10s',
      '    pve3  121   lxc   ci-7        stop      20s      -           guests[2]',
      '    pve3  104   qemu  monitoring  shutdown  3m       stop        startup-order  HA',
      '  startup order 1: 1 guest, about 3m10s',
      '    pve2  107   lxc   dns         shutdown  3m       stop        startup-order',
      '  group 3: 1 guest, about 5m',
      '    pve1  110   qemu  truenas     shutdown  5m       leave       guests[1]',
      '',
      'stage drill: no guests',
      '  when an operator runs pvepower trigger',
      '',
      'hosts: pve3 → pve2 (Ceph MON) → pve1 (self)',
      '',
      'warnings:',
      '  ! plan needs 12m30s, battery runtime is 5m (stages shed + shutdown): shorten timeouts or let the stages fire earlier',
      '',
    ].join('\n'),
  );
});

test('planToJson is the Plan itself, durations in ms', () => {
  const json = planToJson(plan);
  assert.ok(json.endsWith('}\n'));
  assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(plan)));
  const parsed = JSON.parse(json) as typeof plan;
  assert.equal(parsed.stages[1]!.groups[2]!.guests[0]!.timeoutMs, 300_000);
  assert.deepEqual(parsed.stages[0]!.trigger, { on_battery_for: 30_000 });
});

test('triggers and matches read as words', () => {
  assert.equal(
    formatTrigger({ all: [{ runtime_below: 300_000 }, { fsd: true, comm_lost_on_battery: true }], charge_below: 20 }),
    'charge below 20% and all of (runtime below 5m; FSD and UPS silent while on battery)',
  );
  assert.equal(formatMatch({}), 'every guest');
  assert.equal(formatMatch({ tags: ['a', 'b'], vmid: [110] }), 'tags a|b, vmid 110');
});

test('the check-config summary names the UPS, the API, each stage and rule, the host order', () => {
  assert.equal(
    formatConfigSummary(cfg),
    [
      'ups ippon: megatec on USB (auto vendorid 0665), poll every 1s',
      'proxmox: 127.0.0.1:8006 as pvepower@pve!ups, CA /etc/pve/pve-root-ca.pem',
      'stage shed: when on battery for 30s',
      'stage shutdown (final): when any of (on battery for 10m; charge below 40%; low battery)',
      'stage drill: when an operator runs pvepower trigger',
      'guests[0]: tags ups-shed → shed, startup order, shutdown, 1m',
      'guests[1]: vmid 110, node pve1 → shutdown, group 3, shutdown, 5m',
      'guests[2]: name ci-* → shutdown, startup order, stop, 20s',
      'hosts: pve3 → other nodes (Ceph MON last) → self',
      '',
    ].join('\n'),
  );
});
