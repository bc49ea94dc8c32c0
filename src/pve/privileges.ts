/**
 * What the pvepower API token needs, granted on `/` through a custom role (proxmox.md §1).
 * Sys.PowerMgmt and Sys.Modify are in PVE's "root" privilege group, so no built-in role other
 * than Administrator has them.
 */
export const REQUIRED_PRIVILEGES = [
  'VM.Audit', // guest lists, status/current, config
  'VM.PowerMgmt', // guest shutdown, stop, start
  'Sys.Audit', // cluster status, HA resources, Ceph flags, other nodes' tasks
  'Sys.PowerMgmt', // node shutdown and wake-on-LAN
  'Sys.Modify', // Ceph flags
  'Sys.Console', // HA resource state, disarm-ha / arm-ha
  'Pool.Audit', // the `pool` field of guests
] as const;

/** Hibernation (suspend to disk) also writes the VM state to a disk. */
export const HIBERNATE_PRIVILEGES = ['VM.Config.Disk', 'Datastore.AllocateSpace'] as const;

/** The `pveum` commands that create the role, user and token, for setup messages and the README. */
export function setupCommands(opts: { user?: string; token?: string; role?: string; hibernate?: boolean } = {}): string[] {
  const user = opts.user ?? 'pvepower@pve';
  const role = opts.role ?? 'PVEPower';
  const privs = [...REQUIRED_PRIVILEGES, ...(opts.hibernate ? HIBERNATE_PRIVILEGES : [])].join(',');
  return [
    `pveum role add ${role} --privs "${privs}"`,
    `pveum user add ${user} --comment "pvepower UPS shutdown"`,
    `pveum acl modify / --users ${user} --roles ${role}`,
    `pveum user token add ${user} ${opts.token ?? 'ups'} --privsep 1`,
    `pveum acl modify / --tokens '${user}!${opts.token ?? 'ups'}' --roles ${role}`,
  ];
}
