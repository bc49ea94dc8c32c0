import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENDPOINTS } from '../../../src/sim/pve/endpoints.js';
import { ROUTES } from '../../../src/sim/pve/handlers.js';
import { findApidata, loadApidata, type ParamSchema } from '../../../src/sim/pve/schema.js';
import { builtInSchema } from '../../../src/sim/pve/server.js';

/**
 * The committed endpoint table is what the shipped simulator validates against; it must say
 * what the official schema says for every endpoint the simulator implements.
 */
const apidataPath = findApidata();
const official = apidataPath ? loadApidata(apidataPath) : undefined;

/** The facts the table carries about one parameter (the rest of the schema is documentation). */
function facts(p: ParamSchema, withObjectFormat: boolean): Record<string, unknown> {
  return {
    type: p.type,
    optional: Boolean(p.optional),
    enum: p.enum,
    minimum: p.minimum === undefined ? undefined : Number(p.minimum),
    maximum: p.maximum === undefined ? undefined : Number(p.maximum),
    pattern: p.pattern,
    maxLength: p.maxLength,
    minLength: p.minLength,
    requires: p.requires,
    format:
      typeof p.format === 'string'
        ? p.format
        : withObjectFormat && p.format
          ? Object.fromEntries(Object.entries(p.format).map(([k, v]) => [k, facts(v, false)]))
          : undefined,
  };
}

describe('endpoint table', () => {
  it('lists exactly the endpoints the simulator implements', () => {
    const table = ENDPOINTS.map((e) => `${e.method} ${e.path}`).sort();
    assert.deepEqual(table, Object.keys(ROUTES).sort());
    assert.equal(new Set(table).size, table.length, 'no endpoint twice');
  });

  it('matches apidata.json for every implemented endpoint', { skip: official ? false : 'apidata.json not found' }, () => {
    for (const e of ENDPOINTS) {
      const where = `${e.method} ${e.path}`;
      const match = official!.lookup(e.method, e.path);
      assert.ok(match, `${where} is in the official schema`);
      assert.equal(match.template, e.path, where);
      const schema = match.schema;
      assert.equal(schema.proxyto, e.proxyto, `${where} proxyto`);
      assert.equal(Boolean(schema.allowtoken ?? 1), Boolean(e.allowtoken ?? 1), `${where} allowtoken`);
      assert.equal(Number(schema.parameters?.additionalProperties ?? 1), 0, `${where} additionalProperties`);
      const { description: _ignored, ...permissions } = schema.permissions ?? {};
      assert.deepEqual(permissions, e.permissions, `${where} permissions`);
      const theirs = schema.parameters?.properties ?? {};
      assert.deepEqual(Object.keys(e.params).sort(), Object.keys(theirs).sort(), `${where} parameter names`);
      for (const [name, mine] of Object.entries(e.params)) {
        // Property-string formats are in the table only where the simulator reads them.
        const objectFormat = typeof mine.format === 'object';
        assert.deepEqual(facts(mine, objectFormat), facts(theirs[name]!, objectFormat), `${where} parameter ${name}`);
      }
    }
  });

  it('finds the same methods through the built-in table as through apidata.json', { skip: official ? false : 'apidata.json not found' }, () => {
    const builtIn = builtInSchema();
    for (const path of ['/nodes/pve1/qemu/100/status/shutdown', '/nodes/pve1/tasks/UPID:pve1:1:2:3:x::u:/status', '/cluster/ceph/flags/noout']) {
      for (const method of ['GET', 'POST', 'PUT']) {
        const a = builtIn.lookup(method, path);
        const b = official!.lookup(method, path);
        if (a) assert.deepEqual(a.pathParams, b?.pathParams, `${method} ${path}`);
      }
    }
  });
});
