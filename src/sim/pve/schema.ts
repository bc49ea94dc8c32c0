import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The shape of Proxmox VE's API schema (pve-docs api-viewer/apidata.js) as far as the simulator
 * uses it. Flags are 0/1 numbers there; the committed endpoint table uses the same shape so one
 * validator serves both.
 */
export interface ParamSchema {
  type?: string;
  optional?: number | boolean;
  enum?: readonly string[];
  minimum?: number | string;
  maximum?: number | string;
  pattern?: string;
  maxLength?: number;
  minLength?: number;
  /** A named format (`pve-vmid`, `pve-configid-list`, …) or a property-string schema. */
  format?: string | Readonly<Record<string, ParamSchema>>;
  requires?: string;
  default?: unknown;
  default_key?: number | boolean;
  alias?: string;
  items?: ParamSchema;
}

/** `{check: [...]}` / `{user: 'all'|'world'}`; a check is ['perm', path, privs, 'any'?, 1?] or and/or lists. */
export interface PermissionSpec {
  check?: readonly unknown[];
  user?: string;
  description?: string;
}

export interface MethodSchema {
  parameters?: {
    additionalProperties?: number | boolean;
    properties?: Readonly<Record<string, ParamSchema>>;
  };
  permissions?: PermissionSpec;
  proxyto?: string;
  allowtoken?: number | boolean;
}

export interface MethodMatch {
  /** The schema's path template, e.g. `/nodes/{node}/qemu/{vmid}/status/shutdown`. */
  template: string;
  /** Values bound to the template's `{x}` segments. */
  pathParams: Record<string, string>;
  schema: MethodSchema;
}

interface TrieNode {
  literal: Map<string, TrieNode>;
  /** PVE's find_handler takes the first `{x}` child when no literal child matches. */
  variable?: { name: string; node: TrieNode };
  template?: string;
  methods: Map<string, MethodSchema>;
}

const newNode = (): TrieNode => ({ literal: new Map(), methods: new Map() });

/** Method lookup the way PVE::RESTHandler::find_handler walks paths. */
export class ApiSchema {
  private readonly root = newNode();

  constructor(
    /** Where the schema came from, for logs: a file path or `built-in table`. */
    readonly source: string,
  ) {}

  add(method: string, template: string, schema: MethodSchema): void {
    let node = this.root;
    for (const seg of splitPath(template)) {
      const variable = /^\{(.+)\}$/.exec(seg);
      if (variable) {
        node.variable ??= { name: variable[1]!, node: newNode() };
        node = node.variable.node;
      } else {
        let next = node.literal.get(seg);
        if (!next) node.literal.set(seg, (next = newNode()));
        node = next;
      }
    }
    node.template = template;
    node.methods.set(method, schema);
  }

  lookup(method: string, path: string): MethodMatch | undefined {
    let node = this.root;
    const pathParams: Record<string, string> = {};
    for (const seg of splitPath(path)) {
      const literal = node.literal.get(seg);
      if (literal) {
        node = literal;
      } else if (node.variable) {
        pathParams[node.variable.name] = seg;
        node = node.variable.node;
      } else {
        return undefined;
      }
    }
    const schema = node.methods.get(method);
    return schema && node.template !== undefined ? { template: node.template, pathParams, schema } : undefined;
  }
}

export function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

interface ApidataNode {
  path: string;
  info?: Record<string, MethodSchema>;
  children?: ApidataNode[];
}

/** Builds the lookup from the official apidata.json tree (pve-docs, converted to plain JSON). */
export function schemaFromApidata(tree: unknown, source: string): ApiSchema {
  if (!Array.isArray(tree)) throw new Error(`${source}: expected the apidata tree (a JSON array)`);
  const schema = new ApiSchema(source);
  const walk = (nodes: ApidataNode[]) => {
    for (const n of nodes) {
      for (const [method, info] of Object.entries(n.info ?? {})) schema.add(method, n.path, info);
      if (n.children) walk(n.children);
    }
  };
  walk(tree as ApidataNode[]);
  return schema;
}

export function loadApidata(path: string): ApiSchema {
  return schemaFromApidata(JSON.parse(readFileSync(path, 'utf8')), path);
}

/**
 * Where the official schema is, if anywhere: the explicit path, else $PVEPOWER_PVE_APIDATA, else
 * ../shared/pve-api/apidata.json next to the repository (present in the dev tree and CI, never
 * in a release). From src/sim/pve/ and dist/sim/pve/ alike the repository root is three levels up.
 */
export function findApidata(explicit?: string): string | undefined {
  if (explicit) return explicit;
  const fromEnv = process.env.PVEPOWER_PVE_APIDATA;
  if (fromEnv) return fromEnv;
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const sibling = resolve(repoRoot, '../shared/pve-api/apidata.json');
  return existsSync(sibling) ? sibling : undefined;
}
