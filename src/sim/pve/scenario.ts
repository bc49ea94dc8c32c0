import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CEPH_FLAGS } from './endpoints.js';
import { parseStartupOrder } from './validate.js';

/**
 * A simulated cluster as a YAML or JSON file (YAML is a superset of JSON, so one parser reads
 * both). Every time is in simulated seconds; the simulator's time scale decides how long that
 * takes on the wall clock. The README fragment (.readme-parts/sim-pve.md) documents each key.
 */
const seconds = z.number().nonnegative();
const nodeName = z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, 'not a valid node name');
const HA_STATES = ['started', 'stopped', 'disabled', 'ignored'] as const;
const haState = z.enum(HA_STATES);
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;

/** Privileges on `/` (a list), or per ACL path (a map); the most specific path wins, as in PVE. */
const privileges = z.union([z.array(z.string()), z.record(z.string().startsWith('/'), z.array(z.string()))]);

const tokenSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9.\-_]+$/, 'not a valid token name'),
  /** A UUID, as PVE generates; one is generated when missing. */
  secret: z.string().min(1).optional(),
  /** Privilege-separated tokens get the intersection with the user's; absent: the user's. */
  privileges: privileges.optional(),
});

const userSchema = z.strictObject({
  userid: z.string().regex(/^[^\s:/@!]+@[A-Za-z][A-Za-z0-9.\-_]+$/, 'not a valid user id (user@realm)'),
  password: z.string().min(1).optional(),
  /** Absent: every privilege (an Administrator on `/`). */
  privileges: privileges.optional(),
  tokens: z.array(tokenSchema).default([]),
});

const nodeSchema = z.strictObject({
  name: nodeName,
  ip: z.string().optional(),
  online: z.boolean().default(true),
  /** The node the simulated API runs on (pvepower's own host). Default: the first node. */
  local: z.boolean().default(false),
  cephMon: z.boolean().default(false),
  /** Wake-on-LAN MAC (node config `wakeonlan`); POST …/wakeonlan fails without one. */
  mac: z
    .string()
    .regex(/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i, 'not a unicast MAC address')
    .optional(),
  /** From power-on (wake-on-LAN, reset) until the node is online. */
  bootSeconds: seconds.default(60),
  votes: z.number().int().nonnegative().default(1),
  cpus: z.number().int().positive().default(8),
  memoryGiB: z.number().positive().default(64),
});

const haSpec = z.union([
  haState,
  z.strictObject({ state: haState.default('started'), group: z.string().optional(), comment: z.string().optional() }),
]);

const guestSchema = z.strictObject({
  vmid: z.number().int().min(100).max(999_999_999),
  type: z.enum(['qemu', 'lxc']).default('qemu'),
  node: nodeName,
  name: z.string().optional(),
  /** `paused` (qemu only) is a running VM whose CPUs are stopped (qmpstatus paused). */
  status: z.enum(['running', 'stopped', 'paused']).default('stopped'),
  tags: z.union([z.string(), z.array(z.string())]).default([]),
  pool: z.string().optional(),
  template: z.boolean().default(false),
  /** Config lock, e.g. `backup`: shutdown, stop and start tasks fail with `VM is locked (backup)`. */
  lock: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'not a lock name').optional(),
  /** `[order=]N[,up=N][,down=N]`; `down` is the default shutdown timeout (qemu) and stopall's. */
  startup: z.string().optional(),
  onboot: z.boolean().default(false),
  /** QEMU guest agent configured (qemu only). */
  agent: z.boolean().default(false),
  /** HA resource `vm:ID` / `ct:ID` with this requested state. */
  ha: haSpec.optional(),
  /** How long the guest OS takes to power off after an ACPI/agent/SIGPWR request. */
  shutdownSeconds: seconds.default(10),
  /** The guest never reacts to a shutdown request (no acpid, Windows asleep, hung init). */
  ignoresAcpi: z.boolean().default(false),
  /** Agent configured but not running: PVE < 8.3 sends guest-shutdown into the void; 8.3+ falls back to ACPI. */
  agentDead: z.boolean().default(false),
  memoryMiB: z.number().int().positive().default(2048),
  cores: z.number().int().positive().default(2),
  diskGiB: z.number().positive().default(32),
});

const matchFields = {
  method: z.enum(HTTP_METHODS).optional(),
  /** Path below /api2/json; `*` matches one segment, `**` any number. */
  path: z.string().startsWith('/'),
  /** Fire on the Nth matching request (1-based); absent: on every one. */
  nth: z.number().int().positive().optional(),
  /** How many matching requests (from the Nth on) are hit; default 1 with nth, unlimited without. */
  times: z.number().int().positive().optional(),
};

const faultSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('error'),
    ...matchFields,
    status: z.number().int().min(400).max(599).default(500),
    message: z.string().min(1).default('simulated server error'),
    /** `after`: the request takes effect, then the error is returned instead of its result. */
    phase: z.enum(['before', 'after']).default('before'),
  }),
  z.strictObject({ kind: z.literal('delay'), ...matchFields, seconds }),
  z.strictObject({ kind: z.literal('reset'), ...matchFields, phase: z.enum(['before', 'after']).default('before') }),
  z.strictObject({ kind: z.literal('node-offline'), node: nodeName, at: seconds }),
]);

const scenarioSchema = z.strictObject({
  cluster: z
    .strictObject({
      /** Absent: a standalone node (GET /cluster/status lists only the node). */
      name: z.string().optional(),
      /** pve-manager version: disarm-ha/arm-ha exist from 9.2, the dead-agent fallback from 8.3. */
      version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'not a version like 9.2.11').default('9.2.11'),
      /** How long the HA CRM/LRM take to act on a request. */
      haLatencySeconds: seconds.default(2),
      /** How long after a node is lost the HA manager recovers its services elsewhere. */
      haRecoverySeconds: seconds.default(120),
      /** How stale GET /cluster/resources status is (pvestatd: up to 10 s). */
      resourcesLagSeconds: seconds.default(0),
      /** HA armed (PVE 9.2 disarm-ha); `resourceMode` applies while disarmed. */
      haArmed: z.boolean().default(true),
      haResourceMode: z.enum(['freeze', 'ignore']).default('freeze'),
      /** datacenter.cfg options as PUT /cluster/options takes them, e.g. `ha: shutdown_policy=freeze`. */
      options: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
    })
    .prefault({}),
  nodes: z.array(nodeSchema).min(1),
  guests: z.array(guestSchema).default([]),
  ceph: z.strictObject({ flags: z.partialRecord(z.enum(CEPH_FLAGS), z.boolean()).default({}) }).prefault({}),
  users: z.array(userSchema).default([]),
  faults: z.array(faultSchema).default([]),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioGuest = Scenario['guests'][number];
export type ScenarioUser = Scenario['users'][number];
export type Privileges = z.infer<typeof privileges>;
export type HaRequestState = (typeof HA_STATES)[number];
export type HttpMethodName = (typeof HTTP_METHODS)[number];

export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

/** Validates a parsed scenario object: shape, then cross references (nodes, vmids, HA). */
export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  const parsed = scenarioSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new ScenarioError(`${source}: invalid scenario\n${lines.join('\n')}`);
  }
  const scenario = parsed.data;
  const problems = crossCheck(scenario);
  if (problems.length > 0) throw new ScenarioError(`${source}: invalid scenario\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return scenario;
}

export function parseScenarioText(text: string, source = 'scenario'): Scenario {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new ScenarioError(`${source}: ${(err as Error).message}`);
  }
  return parseScenario(data, source);
}

export function loadScenario(path: string): Scenario {
  return parseScenarioText(readFileSync(path, 'utf8'), path);
}

function crossCheck(s: Scenario): string[] {
  const problems: string[] = [];
  const nodeNames = new Set<string>();
  s.nodes.forEach((n, i) => {
    if (nodeNames.has(n.name)) problems.push(`nodes.${i}.name: duplicate node '${n.name}'`);
    nodeNames.add(n.name);
  });
  const locals = s.nodes.filter((n) => n.local);
  if (locals.length > 1) problems.push(`nodes: more than one local node (${locals.map((n) => n.name).join(', ')})`);
  if (!s.cluster.name && s.nodes.length > 1) problems.push('cluster.name: a cluster of several nodes needs a name');
  const vmids = new Set<number>();
  s.guests.forEach((g, i) => {
    const at = `guests.${i}`;
    if (vmids.has(g.vmid)) problems.push(`${at}.vmid: duplicate vmid ${g.vmid}`);
    vmids.add(g.vmid);
    if (!nodeNames.has(g.node)) problems.push(`${at}.node: no node '${g.node}'`);
    if (g.startup !== undefined && !parseStartupOrder(g.startup)) problems.push(`${at}.startup: unable to parse '${g.startup}'`);
    for (const tag of normalizeTags(g.tags)) {
      if (!/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(tag)) problems.push(`${at}.tags: invalid tag '${tag}'`);
    }
    if (g.type === 'lxc' && g.status === 'paused') problems.push(`${at}.status: only qemu guests can be paused`);
    if (g.type === 'lxc' && (g.agent || g.agentDead)) problems.push(`${at}.agent: the guest agent is a qemu feature`);
    if (g.agentDead && !g.agent) problems.push(`${at}.agentDead: needs agent: true`);
    if (g.template && g.status !== 'stopped') problems.push(`${at}.status: a template is never running`);
    if (g.template && g.ha) problems.push(`${at}.ha: a template cannot be an HA resource`);
  });
  s.faults.forEach((f, i) => {
    if (f.kind === 'node-offline' && !nodeNames.has(f.node)) problems.push(`faults.${i}.node: no node '${f.node}'`);
  });
  const userids = new Set<string>();
  s.users.forEach((u, i) => {
    if (userids.has(u.userid)) problems.push(`users.${i}.userid: duplicate user '${u.userid}'`);
    userids.add(u.userid);
  });
  return problems;
}

/** Tags as a list: YAML lists as they are, PVE's `a;b` / `a,b` strings split. */
export function normalizeTags(tags: string | string[]): string[] {
  const list = typeof tags === 'string' ? tags.split(/[;,\s]+/) : tags;
  return list.filter((t) => t.length > 0);
}
