import type { Logger } from '../core/logger.js';
import { buildPlan } from '../policy/plan.js';
import type { PvepowerConfig } from '../policy/schema.js';
import type { Plan } from '../policy/types.js';
import type { Guest, NodeInfo, PveApi } from '../pve/types.js';

/** What the plan needs to know about the live cluster. */
export interface ClusterSnapshot {
  guests: Guest[];
  nodes: NodeInfo[];
  quorate: boolean;
  /** This host's node: `proxmox.self`, else the node the API calls local. */
  self: string;
  pveVersion?: string;
}

/** How many guest configs are read at once (startup order/timeout for stopall-like ordering). */
const CONFIG_READ_CONCURRENCY = 8;

/**
 * Reads guests, nodes and quorum (GETs only). Running guests' configs are read for their
 * `startup` order and `down` timeout; a config that cannot be read just leaves them unset.
 */
export async function readCluster(pve: PveApi, config: PvepowerConfig, logger: Logger): Promise<ClusterSnapshot> {
  const [guests, status, version] = await Promise.all([
    pve.guests(),
    pve.clusterStatus(),
    pve.version().then(
      (v) => v.version,
      () => undefined,
    ),
  ]);
  const self = config.proxmox.self ?? status.nodes.find((n) => n.local)?.node;
  if (!self) throw new Error('cannot tell which node this host is: set proxmox.self in the config');
  const needConfig = guests.filter((g) => g.status === 'running' && !g.template);
  let next = 0;
  const worker = async () => {
    while (next < needConfig.length) {
      const g = needConfig[next++]!;
      try {
        const cfg = await pve.guestConfig(g);
        if (cfg.startup) g.startup = cfg.startup;
      } catch (err) {
        logger.warn(`config of ${g.type}/${g.vmid} unreadable; using stopall defaults`, {
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONFIG_READ_CONCURRENCY, needConfig.length) }, worker));
  return { guests, nodes: status.nodes, quorate: status.quorate, self, ...(version ? { pveVersion: version } : {}) };
}

export function planFor(config: PvepowerConfig, cluster: ClusterSnapshot, runtimeMs?: number): Plan {
  return buildPlan(config, {
    guests: cluster.guests,
    nodes: cluster.nodes,
    self: cluster.self,
    ...(config.proxmox.self_vmid !== undefined ? { selfVmid: config.proxmox.self_vmid } : {}),
    ...(runtimeMs !== undefined ? { runtimeMs } : {}),
    ...(cluster.pveVersion ? { pveVersion: cluster.pveVersion } : {}),
  });
}

/** PVE >= 9.2 has disarm-ha. */
export function supportsDisarmHa(version: string | undefined): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 9 || (major === 9 && minor >= 2);
}
