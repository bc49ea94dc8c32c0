import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_JSON_SCHEMA_PATH, configJsonSchema, configJsonSchemaText } from '../../src/policy/jsonschema.js';

test('config/pvepower.schema.json is what the zod schema generates (regenerate: writeConfigJsonSchema())', () => {
  assert.equal(readFileSync(CONFIG_JSON_SCHEMA_PATH, 'utf8'), configJsonSchemaText());
});

test('the JSON Schema describes what admins write: strict objects, durations as text, defaults', () => {
  const schema = configJsonSchema() as {
    additionalProperties: boolean;
    required: string[];
    properties: Record<string, { properties: Record<string, { type?: string; default?: unknown }> }>;
  };
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required, ['proxmox']);
  assert.deepEqual(schema.properties.ups!.properties.pollinterval, {
    description: 'How often the UPS is polled.',
    default: '1s',
    type: 'string',
  });
  assert.equal(schema.properties.proxmox!.properties.port!.default, 8006);
});
