import { PveError } from './errors.js';
import type { StartupOrder } from './types.js';

/** PVE tags: `;` in the API, but `,` and spaces are accepted on input (pve-common `pve-tag-list`). */
export function splitTags(tags: unknown): string[] {
  if (typeof tags !== 'string') return [];
  return tags.split(/[;,\s]+/).filter(Boolean);
}

/** PVE booleans arrive as 0/1, "0"/"1", JSON true/false, or yes/no/on/off in property strings. */
export function pveBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return /^(1|yes|on|true)$/i.test(value.trim());
  return false;
}

/**
 * Parses a PVE property string (`order=1,up=30`). A bare value without `key=` belongs to
 * `defaultKey` (`2,down=60` → order=2), as PVE's format definitions allow for one key.
 */
export function parsePropertyString(text: string, defaultKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq >= 0) out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
    else if (defaultKey) out[defaultKey] = item;
  }
  return out;
}

function nonNegativeInt(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** `startup`: `[[order=]\d+][,up=\d+][,down=\d+]`; undefined when unset or empty. */
export function parseStartup(value: unknown): StartupOrder | undefined {
  if (typeof value !== 'string' || !value.trim()) return undefined;
  const p = parsePropertyString(value, 'order');
  const out: StartupOrder = {};
  const order = nonNegativeInt(p.order);
  const up = nonNegativeInt(p.up);
  const down = nonNegativeInt(p.down);
  if (order !== undefined) out.order = order;
  if (up !== undefined) out.up = up;
  if (down !== undefined) out.down = down;
  return Object.keys(out).length ? out : undefined;
}

/** qemu `agent`: `[enabled=]0|1[,fstrim_cloned_disks=…][,type=…]`; enabled defaults to 0. */
export function parseAgent(value: unknown): boolean {
  if (typeof value === 'number' || typeof value === 'boolean') return pveBool(value);
  if (typeof value !== 'string') return false;
  return pveBool(parsePropertyString(value, 'enabled').enabled);
}

export interface Upid {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  /** Epoch seconds. */
  starttime: number;
  type: string;
  id: string;
  user: string;
}

// pve-common PVE::UPID: UPID:node:pid(8 hex):pstart(8-9 hex):starttime(8 hex):type:id:user:
const UPID_RE = /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

export function parseUpid(upid: string): Upid {
  const m = UPID_RE.exec(upid);
  if (!m) throw new PveError(`not a PVE task id (UPID): ${JSON.stringify(upid)}`);
  return {
    upid,
    node: m[1],
    pid: parseInt(m[2], 16),
    pstart: parseInt(m[3], 16),
    starttime: parseInt(m[4], 16),
    type: m[5],
    id: m[6],
    user: m[7],
  };
}

/** A stopped task succeeded when its exit status is `OK` or `WARNINGS: n`. */
export function taskSucceeded(exitstatus: string | undefined): boolean {
  return exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus ?? '');
}
