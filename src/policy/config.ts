import { readFileSync } from 'node:fs';
import {
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
  type Pair,
} from 'yaml';
import type { z } from 'zod';
import { configSchema, CROSS_CHECK, type PvepowerConfig } from './schema.js';

/** One problem in a config file; line and col are 1-based (0 when the file itself is the problem). */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the key: `guests[2].timeout`, `stages.shed.when.on_battery_for`. */
  key: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(formatConfigErrors(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** One line per issue: `FILE:LINE:COL key: message`. */
export function formatConfigErrors(issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
      return `${where} ${i.key ? `${i.key}: ` : ''}${i.message}`;
    })
    .join('\n');
}

type PathKey = PropertyKey;

/** `guests[2].timeout`; keys that are not plain words are quoted: `stages["a b"]`. */
export function formatKeyPath(path: readonly PathKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      out += /^[A-Za-z_][\w-]*$/.test(s) ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** Loads and validates a config file; throws ConfigError. */
export function loadConfig(file: string): PvepowerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigError([{ file, line: 0, col: 0, key: '', message: `cannot read the config: ${why}` }]);
  }
  return parseConfig(text, file);
}

/** Parses and validates config text; `file` only names it in errors. Throws ConfigError. */
export function parseConfig(text: string, file = '<config>'): PvepowerConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);

  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    throw new ConfigError(
      yamlProblems.map((e) => {
        const { line, col } = at(e.pos[0]);
        // The library appends " at line L, column C:" and a code excerpt; the position is ours.
        const message =
          e.code === 'MULTIPLE_DOCS'
            ? 'the config is one YAML document: remove the --- line and what follows, or merge it'
            : e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { file, line, col, key: '', message: `YAML: ${message}` };
      }),
    );
  }
  if (doc.contents === null) {
    throw new ConfigError([{ file, line: 1, col: 1, key: '', message: 'the config is empty (it needs at least proxmox:)' }]);
  }

  const knownKeys = new Map<string, string[]>();
  const result = configSchema.safeParse(doc.toJS(), { error: (iss) => describeIssue(iss, knownKeys) });
  if (result.success) return result.data;

  // An object with unknown keys also fails its own checks ("needs a condition") for want of the
  // misspelt key: the unknown key is the news, the rest is noise.
  const withUnknownKeys = new Set(result.error.issues.filter((i) => i.code === 'unrecognized_keys').map((i) => formatKeyPath(i.path)));
  // Cross-key checks also ran over invalid values: keep only those not about a key already wrong.
  const own = result.error.issues.filter((i) => !isCrossCheck(i)).map((i) => formatKeyPath(i.path));
  const overlaps = (path: string) => own.some((o) => o === path || path.startsWith(o + '.') || path.startsWith(o + '[') || o.startsWith(path + '.') || o.startsWith(path + '['));
  const relevant = result.error.issues.filter(
    (i) => (i.code !== 'custom' || !withUnknownKeys.has(formatKeyPath(i.path))) && !(isCrossCheck(i) && overlaps(formatKeyPath(i.path))),
  );
  const issues = relevant.flatMap((iss): ConfigIssue[] => {
    if (iss.code === 'unrecognized_keys') {
      const known = knownKeys.get(formatKeyPath(iss.path)) ?? [];
      return iss.keys.map((k) => {
        const path = [...iss.path, k];
        return { file, ...at(locate(doc, path, 'key')), key: formatKeyPath(path), message: unknownKeyMessage(k, known) };
      });
    }
    const message = iss.code === 'invalid_key' ? (iss.issues[0]?.message ?? iss.message) : iss.message;
    const target = iss.code === 'invalid_key' ? 'key' : 'value';
    return [{ file, ...at(locate(doc, iss.path, target)), key: formatKeyPath(iss.path), message }];
  });
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  throw new ConfigError(issues);
}

/** `unknown key (did you mean X?)` for a near miss (a typo, a shortened name), else the valid keys. */
function unknownKeyMessage(key: string, known: readonly string[]): string {
  const k = key.toLowerCase();
  let best: { name: string; score: number } | undefined;
  for (const name of known) {
    const n = name.toLowerCase();
    const prefix = Math.min(n.length, k.length) >= 3 && (n.startsWith(k) || k.startsWith(n));
    const score = prefix ? 0 : editDistance(n, k);
    if (score <= Math.max(1, Math.floor(n.length / 4)) && (!best || score < best.score)) best = { name, score };
  }
  if (best) return `unknown key (did you mean ${best.name}?)`;
  return known.length > 0 ? `unknown key (valid here: ${known.join(', ')})` : 'unknown key';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the text ${JSON.stringify(v)}`;
    case 'number':
    case 'boolean':
      return String(v);
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  array: 'a list',
};

function bound(kind: 'at least' | 'at most', inclusive: boolean | undefined): string {
  if (inclusive !== false) return kind;
  return kind === 'at least' ? 'greater than' : 'less than';
}

/** Admin-facing wording of zod's issues; schema-level messages take precedence over these. */
function describeIssue(iss: z.core.$ZodRawIssue, knownKeys: Map<string, string[]>): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `needs at least ${iss.minimum} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return 'must not be empty';
      return `must be ${bound('at least', iss.inclusive)} ${iss.minimum}`;
    case 'too_big':
      return `must be ${bound('at most', iss.inclusive)} ${iss.maximum}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map(String).join(', ')} (got ${describeValue(iss.input)})`;
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape;
      if (shape) knownKeys.set(formatKeyPath(iss.path ?? []), Object.keys(shape));
      return 'unknown key';
    }
    default:
      return undefined;
  }
}

type Target = 'key' | 'value';

/**
 * The offset a path points at. A scalar value is pointed at itself; a mapping or list value, an
 * empty value and `target: 'key'` at its key, where the admin reads the name. A path that does
 * not exist (a missing key) points at the deepest part that does: its parent object.
 */
function locate(doc: Document, path: readonly PathKey[], target: Target): number {
  let node: unknown = doc.contents;
  let keyNode: YamlNode | undefined;
  for (const seg of path) {
    const coll = isAlias(node) ? node.resolve(doc) : node;
    const pair = isMap(coll) ? coll.items.find((p: Pair) => keyText(p.key) === String(seg)) : undefined;
    if (pair) {
      keyNode = pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(coll) && typeof seg === 'number' && seg < coll.items.length) {
      keyNode = undefined;
      node = coll.items[seg];
    } else {
      return startOf(keyNode ?? node);
    }
  }
  if (keyNode && (target === 'key' || isCollection(node) || isEmpty(node))) return startOf(keyNode);
  return startOf(node);
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function isEmpty(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null && !node.source);
}

function startOf(node: unknown): number {
  return (node as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
}

function isCrossCheck(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && (issue.params as Record<string, unknown> | undefined)?.[CROSS_CHECK] === true;
}
