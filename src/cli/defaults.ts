import { fileURLToPath } from 'node:url';

// Constants the command tree needs before any command runs; kept free of heavy imports so that
// `pvepower watch` loads only the UPS code (idle memory is a target).

/** The default config path (design.md). */
export const DEFAULT_CONFIG = '/etc/pvepower/pvepower.yaml';

/** The built-in 3-node cluster the simulated drill runs against. */
export const DEFAULT_DRILL_SCENARIO = fileURLToPath(new URL('../../config/sim-cluster.yaml', import.meta.url));

/** Flags that stand in for (or override) the config's `proxmox:` section. */
export const PVE_FLAG_HELP: [string, string][] = [
  ['--host <host>', "Proxmox VE API host (default: the config's proxmox.host)"],
  ['--port <port>', 'API port (default 8006)'],
  ['--token-id <id>', 'API token USER@REALM!TOKENID'],
  ['--token-secret-file <file>', 'file holding the token secret (mode 0600)'],
  ['--ca <file>', 'CA certificate to verify the API with (/etc/pve/pve-root-ca.pem)'],
  ['--fingerprint <sha256>', 'pinned SHA-256 certificate fingerprint (AB:CD:…) instead of --ca'],
];
