import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatConfigErrors, formatKeyPath, loadConfig, parseConfig } from '../../src/policy/config.js';
import { DEFAULT_CEPH_FLAGS, DEFAULT_PER_NODE_LIMIT, DEFAULT_SHUTDOWN_COMMAND } from '../../src/policy/schema.js';

const FILE = 'pvepower.yaml';
const BASE = ['proxmox:', '  token_id: pvepower@pve!ups', '  ca: /etc/pve/pve-root-ca.pem'];

/** Config text from lines, so line numbers in the assertions can be counted. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/** The formatted errors of a config that must fail. */
function errors(text: string): string[] {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.message, formatConfigErrors(err.issues));
    return formatConfigErrors(err.issues).split('\n');
  }
  assert.fail('the config was accepted');
}

test('an unknown key is an error at the key itself, at any depth', () => {
  assert.deepEqual(errors(yaml(...BASE, 'proxmx: {}')), [`${FILE}:4:1 proxmx: unknown key (did you mean proxmox?)`]);
  assert.deepEqual(errors(yaml(...BASE, '  tokn_secret_file: /x')), [
    `${FILE}:4:3 proxmox.tokn_secret_file: unknown key (did you mean token_secret_file?)`,
  ]);
  assert.deepEqual(
    errors(
      yaml(
        ...BASE,
        'stages:',
        '  shutdown:',
        '    when:',
        '      any:',
        '        - low_battery: true',
        '        - { fsd: true, on_battery: 5m }',
      ),
    ),
    [`${FILE}:9:24 stages.shutdown.when.any[1].on_battery: unknown key (did you mean on_battery_for?)`],
  );
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: { vmid: [110], color: red }')), [
    `${FILE}:5:27 guests[0].match.color: unknown key (valid here: vmid, name, tags, pool, node, type)`,
  ]);
});

test('a duration without a unit, or with a bad one, is an error at the value', () => {
  assert.deepEqual(errors(yaml('ups:', '  pollinterval: 30', ...BASE)), [
    `${FILE}:2:17 ups.pollinterval: a duration needs a unit: write 30s or 30m, not 30`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shed: { when: { on_battery_for: soon } }', '  shutdown: { when: { fsd: true } }')), [
    `${FILE}:5:35 stages.shed.when.on_battery_for: invalid duration 'soon' at 'soon' (use e.g. 30s, 5m, 1h30m)`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: {}', '    timeout: 60')), [
    `${FILE}:6:14 guests[0].timeout: a duration needs a unit: write 60s or 60m, not 60`,
  ]);
  assert.deepEqual(errors(yaml('ups:', '  delay: { shutdown: 5s, start: 90s }', ...BASE)), [
    `${FILE}:2:22 ups.delay.shutdown: must be at least 12s (got 5s)`,
    `${FILE}:2:33 ups.delay.start: the UPS counts this delay in whole minutes (got 90s)`,
  ]);
});

test('a value of the wrong type names what was expected and what was found', () => {
  assert.deepEqual(errors(yaml(...BASE, '  port: eighty')), [`${FILE}:4:9 proxmox.port: expected a number, got the text "eighty"`]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: { vmid: 110 }', '    restart_on_power_return: yes')), [
    `${FILE}:5:20 guests[0].match.vmid: expected a list, e.g. [110, 111]`,
    `${FILE}:6:30 guests[0].restart_on_power_return: expected true or false, got the text "yes"`,
  ]);
  assert.deepEqual(errors(yaml('ups:', '  vendorid: 0665', ...BASE)), [
    `${FILE}:2:13 ups.vendorid: write USB ids in quotes ("…"): a bare number loses its leading zeros`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: {}', '    action: pause')), [
    `${FILE}:6:13 guests[0].action: must be one of shutdown, hibernate, stop, skip (got the text "pause")`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: {}', '    group: -1')), [`${FILE}:6:12 guests[0].group: must be at least 0`]);
  assert.deepEqual(errors(yaml(...BASE, 'guests: {}')), [`${FILE}:4:1 guests: expected a list, got a mapping`]);
});

test('a missing required key points at its parent object', () => {
  assert.deepEqual(errors(yaml('ups:', '  name: ippon', 'proxmox:', '  ca: /etc/pve/pve-root-ca.pem')), [
    `${FILE}:3:1 proxmox.token_id: required`,
  ]);
  assert.deepEqual(errors(yaml('ups:', '  name: ippon')), [`${FILE}:1:1 proxmox: required`]);
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shutdown: { final: true }')), [`${FILE}:5:3 stages.shutdown.when: required`]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - stage: shutdown')), [`${FILE}:5:5 guests[0].match: required`]);
  assert.deepEqual(errors(yaml('proxmox:', '  token_id: pvepower@pve!ups')), [
    `${FILE}:1:1 proxmox.ca: required: set ca (e.g. /etc/pve/pve-root-ca.pem) or fingerprint`,
  ]);
  assert.deepEqual(errors(yaml('proxmox:')), [`${FILE}:1:1 proxmox: expected a mapping (key: value), got an empty value`]);
});

test('a bad stage name is an error at the name', () => {
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shutdown: { when: { fsd: true } }', '  2nd: { when: { manual: true } }')), [
    `${FILE}:6:3 stages["2nd"]: stage names start with a letter, then letters, digits, _ or -`,
  ]);
});

test('a rule naming an undefined stage is an error at its stage key', () => {
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shed: { when: { on_battery_for: 30s } }', '  shutdown: { when: { low_battery: true } }', 'guests:', '  - match: { tags: [ups-shed] }', '    stage: sheed')), [
    `${FILE}:9:12 guests[0].stage: no stage named sheed (stages: shed, shutdown)`,
  ]);
});

test('YAML syntax errors, and duplicate keys such as a stage defined twice, carry their position', () => {
  assert.deepEqual(errors(yaml('proxmox:', '  token_id: a: b', '  ca: /etc/pve/pve-root-ca.pem')), [
    `${FILE}:2:13 YAML: Nested mappings are not allowed in compact mappings`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'ups:', '\tname: ippon')), [`${FILE}:5:1 YAML: Tabs are not allowed as indentation`]);
  assert.deepEqual(errors(yaml(...BASE, '---', 'ups: {}')), [
    `${FILE}:4:1 YAML: the config is one YAML document: remove the --- line and what follows, or merge it`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shutdown: { when: { fsd: true } }', '  shutdown: { when: { low_battery: true } }')), [
    `${FILE}:6:3 YAML: Map keys must be unique`,
  ]);
  assert.deepEqual(errors(yaml('proxmox: [unclosed')), [`${FILE}:2:1 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`]);
  assert.deepEqual(errors(''), [`${FILE}:1:1 the config is empty (it needs at least proxmox:)`]);
});

test('checks across keys point at the key to change', () => {
  assert.deepEqual(errors(yaml(...BASE, '  fingerprint: "AB:CD"')), [
    `${FILE}:4:16 proxmox.fingerprint: expected a fingerprint (AB:CD:…) or a map of node name to fingerprint`,
  ]);
  const fp = Array.from({ length: 32 }, (_, i) => (i + 16).toString(16).toUpperCase()).join(':');
  assert.deepEqual(errors(yaml(...BASE, `  fingerprint: "${fp}"`)), [`${FILE}:4:16 proxmox.fingerprint: set either ca or fingerprint, not both`]);
  assert.deepEqual(errors(yaml(...BASE, '  self: pve1', 'hosts:', '  order: [pve3, pve1, pve3]')), [
    `${FILE}:6:17 hosts.order[1]: pve1 is self (proxmox.self), which always goes last; remove it`,
    `${FILE}:6:23 hosts.order[2]: pve3 is listed twice`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'guests:', '  - match: { type: [lxc] }', '    action: hibernate')), [
    `${FILE}:6:13 guests[0].action: hibernate (suspend to disk) works for qemu VMs only`,
  ]);
  assert.deepEqual(errors(yaml('ups:', '  port: /dev/ttyUSB0', '  bus: "003"', ...BASE)), [
    `${FILE}:3:8 ups.bus: bus selects a USB device, but port is /dev/ttyUSB0: set port: auto`,
  ]);
  assert.deepEqual(errors(yaml('ups:', '  battery:', '    voltage: { high: 10.4, low: 13.6 }', ...BASE)), [
    `${FILE}:3:33 ups.battery.voltage.low: must be below high (10.4)`,
  ]);
});

test('exactly one stage is final', () => {
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  early: { when: { on_battery_for: 1m } }', '  late: { when: { low_battery: true } }')), [
    `${FILE}:4:1 stages: no final stage: name one stage shutdown or give it final: true`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shutdown: { when: { fsd: true } }', '  last: { when: { low_battery: true }, final: true }')), [
    `${FILE}:6:47 stages.last.final: only one stage can be final, and shutdown is`,
  ]);
  assert.deepEqual(errors(yaml(...BASE, 'stages:', '  shed: { when: {} }', '  shutdown: { when: { fsd: true } }')), [
    `${FILE}:5:11 stages.shed.when: a trigger needs at least one condition (on_battery_for, charge_below, runtime_below, low_battery, fsd, comm_lost_on_battery, manual, any, all)`,
  ]);
});

test('all errors of a file come at once, in file order', () => {
  const lines = errors(yaml('ups:', '  pollinterval: 2', '  colour: red', 'proxmox:', '  port: 0'));
  assert.deepEqual(lines, [
    `${FILE}:2:17 ups.pollinterval: a duration needs a unit: write 2s or 2m, not 2`,
    `${FILE}:3:3 ups.colour: unknown key (valid here: name, driver, port, vendorid, productid, bus, serial, cablepower, desc, pollinterval, deadtime, battery, delay, ignoresab)`,
    `${FILE}:4:1 proxmox.token_id: required`,
    `${FILE}:4:1 proxmox.ca: required: set ca (e.g. /etc/pve/pve-root-ca.pem) or fingerprint`,
    `${FILE}:5:9 proxmox.port: must be at least 1`,
  ]);
});

test('cross-key errors come in the same run as value errors, but not about a key already wrong', () => {
  const lines = errors(
    yaml(
      'ups: { pollinterval: 2 }',
      'proxmox: { token_id: "pvepower@pve!ups", ca: /etc/pve/pve-root-ca.pem }',
      'stages:',
      '  shutdown: { when: { low_battery: true } }',
      'guests:',
      '  - match: {}',
      '    stage: nosuch',
      '    timeout: 5',
    ),
  );
  assert.equal(lines.length, 3, lines.join('\n'));
  assert.match(lines[0]!, /:1:\d+ ups\.pollinterval: a duration needs a unit/);
  assert.match(lines[1]!, /:7:\d+ guests\[0\]\.stage: /);
  assert.match(lines[2]!, /:8:\d+ guests\[0\]\.timeout: a duration needs a unit/);
});

test('defaults apply to every key left out, durations in ms', () => {
  const c = parseConfig(yaml(...BASE), FILE);
  assert.deepEqual(c.ups, {
    name: 'ups',
    driver: 'megatec',
    port: 'auto',
    pollinterval: 1000,
    deadtime: 15_000,
    battery: { voltage: {} },
    delay: { shutdown: 30_000, start: 180_000 },
    ignoresab: false,
  });
  assert.deepEqual(c.proxmox, {
    host: '127.0.0.1',
    port: 8006,
    token_id: 'pvepower@pve!ups',
    token_secret_file: '/etc/pvepower/token',
    ca: '/etc/pve/pve-root-ca.pem',
    timeout: 30_000,
  });
  assert.deepEqual(c.stages, { shutdown: { when: { any: [{ low_battery: true }, { fsd: true }] }, final: true } });
  assert.deepEqual(c.guests, []);
  assert.deepEqual(c.hosts, {
    order: [],
    shutdown_command: DEFAULT_SHUTDOWN_COMMAND,
    per_node_limit: DEFAULT_PER_NODE_LIMIT,
    node_shutdown: { enabled: true },
  });
  assert.deepEqual(c.killpower, { enabled: true, flag: '/etc/killpower' });
  assert.deepEqual(c.recovery, { enabled: true, delay: 30_000, min_charge: 50 });
  assert.deepEqual(c.ceph, { enabled: 'auto', flags: [...DEFAULT_CEPH_FLAGS] });
  assert.deepEqual(c.ha, { mode: 'auto', resource_mode: 'freeze' });
  assert.equal(c.state_dir, '/var/lib/pvepower');
  assert.deepEqual(c.log, { level: 'info' });
});

test('rule defaults: stage is the final stage, action shutdown, escalation stop, no restart', () => {
  const c = parseConfig(
    yaml(...BASE, 'stages:', '  shed: { when: { on_battery_for: 30s } }', '  poweroff: { when: { low_battery: true }, final: true }', 'guests:', '  - match: { tags: [x] }', '    stage: shed', '  - match: {}'),
    FILE,
  );
  assert.deepEqual(c.stages.shed, { when: { on_battery_for: 30_000 }, final: false });
  assert.equal(c.stages.poweroff?.final, true);
  assert.deepEqual(c.guests[1], { match: {}, stage: 'poweroff', action: 'shutdown', escalation: 'stop', restart_on_power_return: false });
  assert.equal(c.guests[0]?.stage, 'shed');
});

test('values are converted: durations to ms, USB ids to numbers, fingerprints to upper case', () => {
  const fp = Array.from({ length: 32 }, (_, i) => (i + 160).toString(16)).join(':');
  const c = parseConfig(
    yaml(
      'ups: { vendorid: "0665", productid: "0x5161", bus: "003", deadtime: 1m30s }',
      'proxmox:',
      '  token_id: pvepower@pve!ups',
      '  fingerprint:',
      `    pve1: "${fp}"`,
      'stages:',
      '  shutdown: { when: { all: [ { runtime_below: 1h30m }, { charge_below: 20 } ] } }',
    ),
    FILE,
  );
  assert.equal(c.ups.vendorid, 0x0665);
  assert.equal(c.ups.productid, 0x5161);
  assert.equal(c.ups.deadtime, 90_000);
  assert.deepEqual(c.proxmox.fingerprint, { pve1: fp.toUpperCase() });
  assert.deepEqual(c.stages.shutdown?.when, { all: [{ runtime_below: 5_400_000 }, { charge_below: 20 }] });
});

test('both example configs pass check-config', () => {
  const example = loadConfig(new URL('../../config/example.yaml', import.meta.url).pathname);
  assert.equal(example.ups.name, 'ippon');
  assert.deepEqual(example.ups.battery.voltage, { nominal: 12, high: 13.6, low: 10.4 });
  assert.deepEqual(Object.keys(example.stages), ['shed', 'shutdown']);
  // npm start drives the simulated cluster with it: its rules must name the simulator's tags and NAS.
  assert.deepEqual(
    example.guests.map((r) => r.match),
    [{ tags: ['ups-shed'] }, { tags: ['critical'] }, { vmid: [110] }, {}],
  );
  assert.equal(example.proxmox.host, '127.0.0.1');
  assert.ok(example.proxmox.ca);

  const ceph = loadConfig(new URL('../../config/cluster-ceph.yaml', import.meta.url).pathname);
  assert.equal(ceph.ceph.enabled, true);
  assert.equal(ceph.proxmox.self, 'pve1');
  assert.deepEqual(ceph.hosts.order, ['pve3', 'pve2']);
});

test('loadConfig reports an unreadable file as a ConfigError without a position', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvepower-config-'));
  try {
    const missing = join(dir, 'missing.yaml');
    assert.throws(() => loadConfig(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(formatConfigErrors(err.issues), `${missing} cannot read the config: no such file`);
      return true;
    });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, yaml(...BASE, '  port: 0'));
    assert.throws(() => loadConfig(bad), { message: `${bad}:4:9 proxmox.port: must be at least 1` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('key paths read like the YAML: dots, list indexes, quoted odd keys', () => {
  assert.equal(formatKeyPath(['guests', 2, 'timeout']), 'guests[2].timeout');
  assert.equal(formatKeyPath(['stages', 'shed', 'when', 'on_battery_for']), 'stages.shed.when.on_battery_for');
  assert.equal(formatKeyPath(['stages', 'a b']), 'stages["a b"]');
  assert.equal(formatKeyPath([]), '');
});
