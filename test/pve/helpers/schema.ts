import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Recorded } from './server.js';

/** The official PVE API schema (pve-docs apidata.js as JSON), shared beside the repository. */
const APIDATA = fileURLToPath(new URL('../../../../shared/pve-api/apidata.json', import.meta.url));

interface PropSchema {
  type?: string;
  optional?: number;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

interface MethodSchema {
  parameters?: { additionalProperties?: number; properties?: Record<string, PropSchema> };
}

interface TreeNode {
  path: string;
  children?: TreeNode[];
  info?: Record<string, MethodSchema>;
}

let tree: TreeNode[] | undefined;

function lastSegment(n: TreeNode): string {
  return n.path.split('/').pop()!;
}

/**
 * Finds METHOD path like pveproxy's router: a literal segment first, else a `{placeholder}`.
 * Returns the method schema, the schema path (`/nodes/{node}/…`) and the bound placeholders.
 */
export function lookup(method: string, path: string) {
  tree ??= JSON.parse(readFileSync(APIDATA, 'utf8')) as TreeNode[];
  let nodes = tree;
  let node: TreeNode | undefined;
  const bound: Record<string, string> = {};
  for (const seg of path.split('/').filter(Boolean)) {
    node = nodes.find((n) => lastSegment(n) === seg) ?? nodes.find((n) => /^\{.*\}$/.test(lastSegment(n)));
    if (!node) return undefined;
    const last = lastSegment(node);
    if (last.startsWith('{')) bound[last.slice(1, -1)] = seg;
    nodes = node.children ?? [];
  }
  const schema = node?.info?.[method];
  return schema && node ? { schema, schemaPath: node.path, bound } : undefined;
}

function checkValue(name: string, p: PropSchema, value: string): string | undefined {
  switch (p.type) {
    case 'boolean':
      if (value !== '0' && value !== '1') return `${name}: boolean must be sent as 0 or 1, got '${value}'`;
      break;
    case 'integer':
      if (!/^[+-]?\d+$/.test(value)) return `${name}: not an integer: '${value}'`;
      break;
    case 'number':
      if (value.trim() === '' || Number.isNaN(Number(value))) return `${name}: not a number: '${value}'`;
      break;
  }
  if ((p.type === 'integer' || p.type === 'number') && p.minimum !== undefined && Number(value) < p.minimum) {
    return `${name}: ${value} below the minimum ${p.minimum}`;
  }
  if ((p.type === 'integer' || p.type === 'number') && p.maximum !== undefined && Number(value) > p.maximum) {
    return `${name}: ${value} above the maximum ${p.maximum}`;
  }
  if (p.enum && !p.enum.includes(value)) return `${name}: '${value}' is not one of ${p.enum.join(', ')}`;
  if (p.maxLength !== undefined && value.length > p.maxLength) return `${name}: longer than ${p.maxLength}`;
  return undefined;
}

/**
 * Problems pveproxy would answer with 501 or 400 for this request: unknown method, unknown
 * parameter, a non-optional parameter missing, or a value of the wrong type, range or enum.
 */
export function validate(req: Recorded): string[] {
  const found = lookup(req.method, req.path);
  if (!found) return [`${req.method} ${req.path}: no such method in the PVE API`];
  const where = `${req.method} ${found.schemaPath}`;
  const props = found.schema.parameters?.properties ?? {};
  const strict = found.schema.parameters?.additionalProperties === 0;
  const all: Record<string, string[]> = { ...req.params };
  for (const [k, v] of Object.entries(found.bound)) {
    if (all[k]) return [`${where}: ${k} given in the path and as a parameter`];
    all[k] = [v];
  }
  const problems: string[] = [];
  for (const [name, values] of Object.entries(all)) {
    const p = props[name];
    if (!p) {
      if (strict) problems.push(`${where}: parameter '${name}' is not in the schema`);
      continue;
    }
    if (values.length > 1 && p.type !== 'array') problems.push(`${where}: '${name}' repeated but not an array`);
    for (const v of values) {
      const bad = checkValue(name, p, v);
      if (bad) problems.push(`${where}: ${bad}`);
    }
  }
  for (const [name, p] of Object.entries(props)) {
    if (!p.optional && !(name in all)) problems.push(`${where}: required parameter '${name}' missing`);
  }
  return problems;
}
