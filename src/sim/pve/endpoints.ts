import type { MethodSchema, ParamSchema, PermissionSpec } from './schema.js';

/**
 * The endpoints the simulator implements, in the shape of the official schema
 * (pve-docs api-viewer/apidata.js, PVE 9.1): parameter names, types, optional flags, enums,
 * ranges, patterns and named formats, plus the permission check and proxying target. The
 * simulator validates against this table when apidata.json is not at hand (a user's machine);
 * test/sim/pve/endpoints.test.ts keeps it in line with apidata.json. Property-string formats are
 * spelled out only where the simulator reads the value (`ha`); the others go unchecked here.
 */
export interface EndpointSpec extends MethodSchema {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  params: Readonly<Record<string, ParamSchema>>;
}

const NODE: ParamSchema = { type: 'string', format: 'pve-node' };
const VMID: ParamSchema = { type: 'integer', minimum: 100, maximum: 999999999, format: 'pve-vmid' };
const ANY_USER: PermissionSpec = { user: 'all' };
const VM_AUDIT: PermissionSpec = { check: ['perm', '/vms/{vmid}', ['VM.Audit']] };
const VM_POWER: PermissionSpec = { check: ['perm', '/vms/{vmid}', ['VM.PowerMgmt']] };
const NODE_POWER: PermissionSpec = { check: ['perm', '/nodes/{node}', ['Sys.PowerMgmt']] };
const rootPerm = (priv: string): PermissionSpec => ({ check: ['perm', '/', [priv]] });

export const CEPH_FLAGS = [
  'nobackfill',
  'nodeep-scrub',
  'nodown',
  'noin',
  'noout',
  'norebalance',
  'norecover',
  'noscrub',
  'notieragent',
  'noup',
  'pause',
] as const;

export type CephFlagName = (typeof CEPH_FLAGS)[number];

export const ENDPOINTS: readonly EndpointSpec[] = [
  {
    method: 'GET',
    path: '/version',
    permissions: ANY_USER,
    params: {},
  },
  {
    method: 'POST',
    path: '/access/ticket',
    allowtoken: 0,
    permissions: { user: 'world' },
    params: {
      'new-format': { type: 'boolean', optional: 1 },
      otp: { type: 'string', optional: 1 },
      password: { type: 'string' },
      path: { type: 'string', optional: 1, maxLength: 64, requires: 'privs' },
      privs: { type: 'string', optional: 1, maxLength: 64, format: 'pve-priv-list', requires: 'path' },
      realm: { type: 'string', optional: 1, maxLength: 32, format: 'pve-realm' },
      'tfa-challenge': { type: 'string', optional: 1 },
      username: { type: 'string', maxLength: 64 },
    },
  },
  {
    method: 'GET',
    path: '/cluster/status',
    permissions: rootPerm('Sys.Audit'),
    params: {},
  },
  {
    method: 'GET',
    path: '/cluster/resources',
    permissions: ANY_USER,
    params: {
      type: { type: 'string', optional: 1, enum: ['vm', 'storage', 'node', 'sdn'] },
    },
  },
  {
    method: 'GET',
    path: '/nodes',
    permissions: ANY_USER,
    params: {},
  },
  {
    method: 'GET',
    path: '/nodes/{node}/qemu',
    proxyto: 'node',
    permissions: ANY_USER,
    params: {
      full: { type: 'boolean', optional: 1 },
      node: NODE,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/lxc',
    proxyto: 'node',
    permissions: ANY_USER,
    params: {
      node: NODE,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/qemu/{vmid}/status/current',
    proxyto: 'node',
    permissions: VM_AUDIT,
    params: {
      node: NODE,
      vmid: VMID,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/lxc/{vmid}/status/current',
    proxyto: 'node',
    permissions: VM_AUDIT,
    params: {
      node: NODE,
      vmid: VMID,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/qemu/{vmid}/config',
    proxyto: 'node',
    permissions: VM_AUDIT,
    params: {
      current: { type: 'boolean', optional: 1 },
      node: NODE,
      snapshot: { type: 'string', optional: 1, maxLength: 40, format: 'pve-configid' },
      vmid: VMID,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/lxc/{vmid}/config',
    proxyto: 'node',
    permissions: VM_AUDIT,
    params: {
      current: { type: 'boolean', optional: 1 },
      node: NODE,
      snapshot: { type: 'string', optional: 1, maxLength: 40, format: 'pve-configid' },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/qemu/{vmid}/status/shutdown',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      forceStop: { type: 'boolean', optional: 1 },
      keepActive: { type: 'boolean', optional: 1 },
      node: NODE,
      skiplock: { type: 'boolean', optional: 1 },
      timeout: { type: 'integer', optional: 1, minimum: 0 },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/shutdown',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      forceStop: { type: 'boolean', optional: 1 },
      node: NODE,
      timeout: { type: 'integer', optional: 1, minimum: 0 },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/qemu/{vmid}/status/stop',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      keepActive: { type: 'boolean', optional: 1 },
      migratedfrom: { type: 'string', optional: 1, format: 'pve-node' },
      node: NODE,
      'overrule-shutdown': { type: 'boolean', optional: 1 },
      skiplock: { type: 'boolean', optional: 1 },
      timeout: { type: 'integer', optional: 1, minimum: 0 },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/stop',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      node: NODE,
      'overrule-shutdown': { type: 'boolean', optional: 1 },
      skiplock: { type: 'boolean', optional: 1 },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/qemu/{vmid}/status/start',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      'force-cpu': { type: 'string', optional: 1 },
      machine: { type: 'string', optional: 1 },
      migratedfrom: { type: 'string', optional: 1, format: 'pve-node' },
      migration_network: { type: 'string', optional: 1, format: 'CIDR' },
      migration_type: { type: 'string', optional: 1, enum: ['secure', 'insecure'] },
      'nets-host-mtu': { type: 'string', optional: 1, pattern: 'net\\d+=\\d+(,net\\d+=\\d+)*' },
      node: NODE,
      skiplock: { type: 'boolean', optional: 1 },
      stateuri: { type: 'string', optional: 1, maxLength: 128 },
      targetstorage: { type: 'string', optional: 1, format: 'storage-pair-list' },
      timeout: { type: 'integer', optional: 1, minimum: 0 },
      vmid: VMID,
      'with-conntrack-state': { type: 'boolean', optional: 1 },
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/start',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      debug: { type: 'boolean', optional: 1 },
      node: NODE,
      skiplock: { type: 'boolean', optional: 1 },
      vmid: VMID,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/qemu/{vmid}/status/suspend',
    proxyto: 'node',
    permissions: VM_POWER,
    params: {
      node: NODE,
      skiplock: { type: 'boolean', optional: 1 },
      statestorage: { type: 'string', optional: 1, format: 'pve-storage-id', requires: 'todisk' },
      todisk: { type: 'boolean', optional: 1 },
      vmid: VMID,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/tasks',
    proxyto: 'node',
    permissions: ANY_USER,
    params: {
      errors: { type: 'boolean', optional: 1 },
      limit: { type: 'integer', optional: 1, minimum: 0 },
      node: NODE,
      since: { type: 'integer', optional: 1 },
      source: { type: 'string', optional: 1, enum: ['archive', 'active', 'all'] },
      start: { type: 'integer', optional: 1, minimum: 0 },
      statusfilter: { type: 'string', optional: 1, format: 'pve-task-status-type-list' },
      typefilter: { type: 'string', optional: 1 },
      until: { type: 'integer', optional: 1 },
      userfilter: { type: 'string', optional: 1 },
      vmid: { ...VMID, optional: 1 },
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/ceph/mon',
    proxyto: 'node',
    permissions: { check: ['perm', '/', ['Sys.Audit', 'Datastore.Audit'], 'any', 1] },
    params: {
      node: NODE,
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/tasks/{upid}/status',
    proxyto: 'node',
    permissions: ANY_USER,
    params: {
      node: NODE,
      upid: { type: 'string' },
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/status',
    proxyto: 'node',
    permissions: NODE_POWER,
    params: {
      command: { type: 'string', enum: ['reboot', 'shutdown'] },
      node: NODE,
    },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/wakeonlan',
    permissions: NODE_POWER,
    params: {
      node: NODE,
    },
  },
  {
    method: 'GET',
    path: '/cluster/ha/resources',
    permissions: rootPerm('Sys.Audit'),
    params: {
      type: { type: 'string', optional: 1, enum: ['ct', 'vm'] },
    },
  },
  {
    method: 'GET',
    path: '/cluster/ha/resources/{sid}',
    permissions: rootPerm('Sys.Audit'),
    params: {
      sid: { type: 'string', format: 'pve-ha-resource-or-vm-id' },
    },
  },
  {
    method: 'PUT',
    path: '/cluster/ha/resources/{sid}',
    permissions: rootPerm('Sys.Console'),
    params: {
      comment: { type: 'string', optional: 1, maxLength: 4096 },
      delete: { type: 'string', optional: 1, maxLength: 4096, format: 'pve-configid-list' },
      digest: { type: 'string', optional: 1, maxLength: 64 },
      failback: { type: 'boolean', optional: 1 },
      group: { type: 'string', optional: 1, format: 'pve-configid' },
      max_relocate: { type: 'integer', optional: 1, minimum: 0 },
      max_restart: { type: 'integer', optional: 1, minimum: 0 },
      sid: { type: 'string', format: 'pve-ha-resource-or-vm-id' },
      state: { type: 'string', optional: 1, enum: ['started', 'stopped', 'enabled', 'disabled', 'ignored'] },
    },
  },
  {
    method: 'GET',
    path: '/cluster/ha/status/current',
    permissions: rootPerm('Sys.Audit'),
    params: {},
  },
  {
    method: 'POST',
    path: '/cluster/ha/status/disarm-ha',
    permissions: rootPerm('Sys.Console'),
    params: {
      'resource-mode': { type: 'string', enum: ['freeze', 'ignore'] },
    },
  },
  {
    method: 'POST',
    path: '/cluster/ha/status/arm-ha',
    permissions: rootPerm('Sys.Console'),
    params: {},
  },
  {
    method: 'GET',
    path: '/cluster/ceph/flags',
    permissions: rootPerm('Sys.Audit'),
    params: {},
  },
  {
    method: 'PUT',
    path: '/cluster/ceph/flags',
    permissions: rootPerm('Sys.Modify'),
    params: {
      nobackfill: { type: 'boolean', optional: 1 },
      'nodeep-scrub': { type: 'boolean', optional: 1 },
      nodown: { type: 'boolean', optional: 1 },
      noin: { type: 'boolean', optional: 1 },
      noout: { type: 'boolean', optional: 1 },
      norebalance: { type: 'boolean', optional: 1 },
      norecover: { type: 'boolean', optional: 1 },
      noscrub: { type: 'boolean', optional: 1 },
      notieragent: { type: 'boolean', optional: 1 },
      noup: { type: 'boolean', optional: 1 },
      pause: { type: 'boolean', optional: 1 },
    },
  },
  {
    method: 'GET',
    path: '/cluster/ceph/flags/{flag}',
    permissions: rootPerm('Sys.Audit'),
    params: {
      flag: { type: 'string', enum: CEPH_FLAGS },
    },
  },
  {
    method: 'PUT',
    path: '/cluster/ceph/flags/{flag}',
    permissions: rootPerm('Sys.Modify'),
    params: {
      flag: { type: 'string', enum: CEPH_FLAGS },
      value: { type: 'boolean' },
    },
  },
  {
    method: 'GET',
    path: '/cluster/options',
    permissions: { check: ['perm', '/', ['Sys.Audit']], user: 'all' },
    params: {},
  },
  {
    method: 'PUT',
    path: '/cluster/options',
    permissions: rootPerm('Sys.Modify'),
    params: {
      bwlimit: { type: 'string', optional: 1 },
      'consent-text': { type: 'string', optional: 1, maxLength: 65536 },
      console: { type: 'string', optional: 1, enum: ['applet', 'vv', 'html5', 'xtermjs'] },
      crs: { type: 'string', optional: 1 },
      delete: { type: 'string', optional: 1, format: 'pve-configid-list' },
      description: { type: 'string', optional: 1, maxLength: 65536 },
      email_from: { type: 'string', optional: 1, format: 'email-opt' },
      fencing: { type: 'string', optional: 1, enum: ['watchdog', 'hardware', 'both'] },
      ha: {
        type: 'string',
        optional: 1,
        format: { shutdown_policy: { type: 'string', enum: ['freeze', 'failover', 'conditional', 'migrate'] } },
      },
      http_proxy: { type: 'string', optional: 1, pattern: 'http://.*' },
      keyboard: {
        type: 'string', optional: 1,
        enum: [
          'de', 'de-ch', 'da', 'en-gb', 'en-us', 'es', 'fi', 'fr', 'fr-be', 'fr-ca', 'fr-ch', 'hu', 'is',
          'it', 'ja', 'lt', 'mk', 'nl', 'no', 'pl', 'pt', 'pt-br', 'sv', 'sl', 'tr',
        ],
      },
      language: {
        type: 'string', optional: 1,
        enum: [
          'ar', 'ca', 'da', 'de', 'en', 'es', 'eu', 'fa', 'fr', 'hr', 'he', 'it', 'ja', 'ka', 'kr', 'nb',
          'nl', 'nn', 'pl', 'pt_BR', 'ru', 'sl', 'sv', 'tr', 'ukr', 'zh_CN', 'zh_TW',
        ],
      },
      mac_prefix: { type: 'string', optional: 1, format: 'mac-prefix' },
      max_workers: { type: 'integer', optional: 1, minimum: 1 },
      migration: { type: 'string', optional: 1 },
      migration_unsecure: { type: 'boolean', optional: 1 },
      'next-id': { type: 'string', optional: 1 },
      notify: { type: 'string', optional: 1 },
      'registered-tags': {
        type: 'string',
        optional: 1,
        pattern: '(?:(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*);)*(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*)',
      },
      replication: { type: 'string', optional: 1 },
      'tag-style': { type: 'string', optional: 1 },
      u2f: { type: 'string', optional: 1 },
      'user-tag-access': { type: 'string', optional: 1 },
      webauthn: { type: 'string', optional: 1 },
    },
  },
];
