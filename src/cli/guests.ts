import type { CliIo } from '../core/cli-io.js';
import { EXIT_OK } from '../core/cli-io.js';
import type { Guest, PveApi } from '../pve/types.js';

/** One row of `pvepower guests`. */
export interface GuestRow {
  node: string;
  vmid: number;
  type: string;
  name: string;
  status: string;
  tags: string[];
  /** HA service state, or null when the guest is not an HA resource. */
  hastate: string | null;
  pool: string | null;
  template: boolean;
  lock: string | null;
}

/**
 * `pvepower guests`: the cluster's guests as pvepower sees them. Guests on nodes that are
 * offline are reported on stderr (their status would only be a stale guess) and left out.
 */
export async function guestsCommand(pve: PveApi, opts: { json?: boolean }, io: CliIo): Promise<number> {
  const [guests, status] = await Promise.all([pve.guests(), pve.clusterStatus()]);
  const offline = new Set(status.nodes.filter((n) => !n.online).map((n) => n.node));
  for (const node of [...offline].sort()) {
    const hidden = guests.filter((g) => g.node === node).length;
    io.err(`pvepower guests: node ${node} is unreachable (offline); its ${hidden} guest${hidden === 1 ? '' : 's'} not listed\n`);
  }
  const rows = guests
    .filter((g) => !offline.has(g.node))
    .sort((a, b) => a.node.localeCompare(b.node) || a.vmid - b.vmid)
    .map(toRow);
  io.out(opts.json ? JSON.stringify(rows, null, 2) + '\n' : table(rows));
  return EXIT_OK;
}

function toRow(g: Guest): GuestRow {
  return {
    node: g.node,
    vmid: g.vmid,
    type: g.type,
    name: g.name,
    status: g.status,
    tags: g.tags,
    hastate: g.hastate ?? null,
    pool: g.pool ?? null,
    template: g.template,
    lock: g.lock ?? null,
  };
}

function table(rows: GuestRow[]): string {
  const header = ['NODE', 'VMID', 'TYPE', 'NAME', 'STATUS', 'HA', 'TAGS'];
  const cells = rows.map((r) => [
    r.node,
    String(r.vmid),
    r.template ? `${r.type} (template)` : r.type,
    r.name,
    r.lock ? `${r.status} (lock: ${r.lock})` : r.status,
    r.hastate ?? '-',
    r.tags.join(';') || '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  return line(header) + cells.map(line).join('');
}
