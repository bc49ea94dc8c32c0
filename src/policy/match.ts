import type { Guest } from '../pve/types.js';
import type { GuestMatch } from './schema.js';

export type GuestMatcher = (guest: Guest) => boolean;

/** A shell-style glob: `*` any run of characters, `?` exactly one; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  return new RegExp(`^${body}$`, 's');
}

/**
 * Compiles a rule's `match:` once into a predicate: sets and regexps built up front, so matching
 * ten thousand guests costs a few lookups each. Lists mean "any of"; every key given must match;
 * `{}` matches every guest. Tags compare case-insensitively (Proxmox treats them so).
 */
export function compileMatch(match: GuestMatch): GuestMatcher {
  const checks: GuestMatcher[] = [];
  if (match.vmid) {
    const ids = new Set(match.vmid);
    checks.push((g) => ids.has(g.vmid));
  }
  if (match.name) {
    const patterns = match.name.map(globToRegExp);
    checks.push((g) => patterns.some((re) => re.test(g.name)));
  }
  if (match.tags) {
    const tags = new Set(match.tags.map((t) => t.toLowerCase()));
    checks.push((g) => g.tags.some((t) => tags.has(t.toLowerCase())));
  }
  if (match.pool) {
    const pools = new Set(match.pool);
    checks.push((g) => g.pool !== undefined && pools.has(g.pool));
  }
  if (match.node) {
    const nodes = new Set(match.node);
    checks.push((g) => nodes.has(g.node));
  }
  if (match.type) {
    const types = new Set(match.type);
    checks.push((g) => types.has(g.type));
  }
  return (g) => checks.every((check) => check(g));
}
