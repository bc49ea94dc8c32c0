import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.js';

/** The committed JSON Schema (config/pvepower.schema.json), from src/policy or dist/policy alike. */
export const CONFIG_JSON_SCHEMA_PATH = fileURLToPath(new URL('../../config/pvepower.schema.json', import.meta.url));

/**
 * The config's JSON Schema for editors (yaml-language-server, VS Code). It describes what an admin
 * writes (`io: 'input'`): durations as text, defaults as written. Checks spanning several keys
 * exist only in the zod schema, so `pvepower check-config` remains the final word.
 */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' });
  return {
    ...generated,
    title: 'pvepower configuration',
    description: 'pvepower.yaml: UPS, Proxmox VE API, stages, guest rules, host order. Durations are text such as 30s, 5m, 1h30m.',
  };
}

/** The file's exact text: two-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** Regenerates config/pvepower.schema.json (or `file`); run after changing schema.ts. */
export function writeConfigJsonSchema(file: string = CONFIG_JSON_SCHEMA_PATH): void {
  writeFileSync(file, configJsonSchemaText());
}
