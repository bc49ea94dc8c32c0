import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePropertyString, parseStartupOrder, validateParameters } from '../../../src/sim/pve/validate.js';
import type { MethodSchema } from '../../../src/sim/pve/schema.js';

const SHUTDOWN: MethodSchema['parameters'] = {
  additionalProperties: 0,
  properties: {
    node: { type: 'string', format: 'pve-node' },
    vmid: { type: 'integer', minimum: 100, maximum: 999999999, format: 'pve-vmid' },
    timeout: { type: 'integer', optional: 1, minimum: 0 },
    forceStop: { type: 'boolean', optional: 1 },
  },
};

describe('PVE parameter verification', () => {
  it('accepts valid form values', () => {
    assert.deepEqual(validateParameters({ node: 'pve1', vmid: '100', timeout: '60', forceStop: '1' }, SHUTDOWN), {});
  });

  it('reports each bad parameter with PVE::JSONSchema wording', () => {
    const errors = validateParameters({ node: 'pve_1', vmid: '99', timeout: '-1', forceStop: 'true', extra: 'x' }, SHUTDOWN);
    assert.deepEqual(errors, {
      node: 'invalid format - value does not look like a valid node name\n',
      vmid: 'invalid format - value does not look like a valid VM ID\n',
      timeout: 'value must have a minimum value of 0',
      forceStop: "type check ('boolean') failed - got 'true'",
      extra: 'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('checks the integer regex before anything else, and maximum after the format', () => {
    assert.deepEqual(validateParameters({ node: 'pve1', vmid: '1e3' }, SHUTDOWN), { vmid: "type check ('integer') failed - got '1e3'" });
    const big = { type: 'integer', maximum: 10 };
    assert.deepEqual(validateParameters({ n: '11' }, { properties: { n: big } }), { n: 'value must have a maximum value of 10' });
  });

  it('reports missing required parameters', () => {
    assert.deepEqual(validateParameters({ node: 'pve1' }, SHUTDOWN), { vmid: 'property is missing and it is not optional' });
  });

  it('takes JSON booleans and numbers, and names Perl refs for objects', () => {
    assert.deepEqual(validateParameters({ node: 'pve1', vmid: 100, forceStop: true, timeout: 5 }, SHUTDOWN), {});
    assert.deepEqual(validateParameters({ node: 'pve1', vmid: 100, timeout: true }, SHUTDOWN), {
      timeout: "type check ('integer') failed - got JSON::PP::Boolean",
    });
    assert.deepEqual(validateParameters({ node: ['a'], vmid: 100 }, SHUTDOWN), { node: "type check ('string') failed - got ARRAY" });
  });

  it('checks enums, patterns, lengths and requires', () => {
    const schema: MethodSchema['parameters'] = {
      additionalProperties: 0,
      properties: {
        command: { type: 'string', enum: ['reboot', 'shutdown'] },
        proxy: { type: 'string', optional: 1, pattern: 'http://.*' },
        tags: { type: 'string', optional: 1, pattern: '(?:(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*);)*(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*)' },
        name: { type: 'string', optional: 1, maxLength: 3 },
        path: { type: 'string', optional: 1, requires: 'privs' },
        privs: { type: 'string', optional: 1 },
      },
    };
    assert.deepEqual(validateParameters({ command: 'halt', proxy: 'ftp://x', tags: 'Ok;Fine', name: 'long', path: '/' }, schema), {
      command: "value 'halt' does not have a value in the enumeration 'reboot, shutdown'",
      proxy: 'value does not match the regex pattern',
      name: 'value may only be 3 characters long',
      privs: "missing property - 'path' requires this property",
    });
  });

  it('validates property strings and reports nested errors as PVE stringifies them', () => {
    const ha = { shutdown_policy: { type: 'string', enum: ['freeze', 'failover', 'conditional', 'migrate'] } };
    const schema: MethodSchema['parameters'] = { properties: { ha: { type: 'string', optional: 1, format: ha } } };
    assert.deepEqual(validateParameters({ ha: 'shutdown_policy=freeze' }, schema), {});
    assert.deepEqual(validateParameters({ ha: 'shutdown_policy=off' }, schema), {
      ha: "invalid format - format error\nha.shutdown_policy: value 'off' does not have a value in the enumeration 'freeze, failover, conditional, migrate'\n",
    });
    assert.deepEqual(validateParameters({ ha: 'policy=freeze' }, schema), {
      ha: 'invalid format - invalid key in comma-separated list property: policy\n',
    });
    assert.deepEqual(validateParameters({ ha: 'freeze' }, schema), {
      ha: 'invalid format - value without key, but schema does not define a default key\n',
    });
    assert.deepEqual(parsePropertyString(ha, 'shutdown_policy=migrate', 'ha'), { shutdown_policy: 'migrate' });
  });

  it('checks -list formats item by item', () => {
    const schema: MethodSchema['parameters'] = { properties: { delete: { type: 'string', format: 'pve-configid-list' } } };
    assert.deepEqual(validateParameters({ delete: 'ha,max_workers' }, schema), {});
    assert.deepEqual(validateParameters({ delete: 'ha,9x' }, schema), { delete: "invalid format - invalid configuration ID '9x'\n" });
  });

  it('parses startup orders like pve_parse_startup_order', () => {
    assert.deepEqual(parseStartupOrder('order=2,up=30,down=120'), { order: 2, up: 30, down: 120 });
    assert.deepEqual(parseStartupOrder('3'), { order: 3 });
    assert.equal(parseStartupOrder('order=x'), undefined);
  });
});
