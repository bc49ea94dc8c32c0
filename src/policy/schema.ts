import { z } from 'zod';
import { formatDuration, parseDuration } from '../core/duration.js';
import type { TriggerSpec } from './types.js';

/**
 * The config file's schema (zod 4). Every object is strict, so a misspelt key is an error, not a
 * silently ignored setting. Durations are written as text (`30s`, `5m`) and come out in ms.
 * Checks that span several keys live in `crossChecks` below; config.ts turns every issue into
 * `FILE:LINE:COL key: message`.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The stage whose name makes it final unless `final:` says otherwise. */
export const SHUTDOWN_STAGE = 'shutdown';

export const DEFAULT_SHUTDOWN_COMMAND = '/sbin/shutdown -h +0';
export const DEFAULT_CEPH_FLAGS = ['noout', 'norecover', 'norebalance', 'nobackfill'] as const;
export const CEPH_FLAGS = ['noout', 'norecover', 'norebalance', 'nobackfill', 'nodown', 'pause'] as const;
/** Guest actions in flight per node: the most Proxmox's own stopall runs (max_workers cap). */
export const DEFAULT_PER_NODE_LIMIT = 8;

// What `stages:` means when the file has none: NUT upsmon's own rule (critical = LB or FSD).
const DEFAULT_STAGES = { [SHUTDOWN_STAGE]: { when: { any: [{ low_battery: true }, { fsd: true }] } } };

interface DurationLimits {
  min?: number;
  max?: number;
  /** Extra check on the value in ms; returns a message when it fails. */
  check?: (ms: number) => string | undefined;
}

/** A human duration → ms. A bare number is refused: `30` could mean seconds or minutes. */
function duration(limits: DurationLimits = {}) {
  return z
    .string({
      error: (iss) =>
        typeof iss.input === 'number' ? `a duration needs a unit: write ${iss.input}s or ${iss.input}m, not ${iss.input}` : undefined,
    })
    .transform((text, ctx): number => {
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
      const problem =
        limits.min !== undefined && ms < limits.min
          ? `must be at least ${formatDuration(limits.min)}`
          : limits.max !== undefined && ms > limits.max
            ? `must be at most ${formatDuration(limits.max)}`
            : limits.check?.(ms);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${problem} (got ${text})` });
        return z.NEVER;
      }
      return ms;
    });
}

const quoteNumbers = (what: string) => (iss: { input?: unknown }) =>
  typeof iss.input === 'number' ? `write ${what} in quotes ("…"): a bare number loses its leading zeros` : undefined;

/** A USB id as lsusb prints it ("0665") → number. */
const usbId = z
  .string({ error: quoteNumbers('USB ids') })
  .regex(/^(0x)?[0-9a-fA-F]{4}$/, 'expected 4 hex digits, e.g. "0665"')
  .transform((s) => Number.parseInt(s.replace(/^0x/i, ''), 16));

const absolutePath = z.string().regex(/^\//, 'must be an absolute path (starting with /)');

// Proxmox node names are host names (pve-common `pve-node` format).
const nodeName = z
  .string()
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, 'not a valid node name (letters, digits and -)');

const stageName = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, 'stage names start with a letter, then letters, digits, _ or -');

const fingerprint = z
  .string()
  .regex(/^([0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}$/, 'expected a SHA-256 fingerprint: 32 hex bytes separated by colons (AB:CD:…)')
  .transform((s) => s.toUpperCase());

/** YAML input of a trigger: durations still text. */
export interface TriggerYaml {
  on_battery_for?: string;
  charge_below?: number;
  runtime_below?: string;
  low_battery?: boolean;
  fsd?: boolean;
  comm_lost_on_battery?: boolean;
  manual?: boolean;
  any?: TriggerYaml[];
  all?: TriggerYaml[];
}

/** True when the trigger has a condition that can hold (see triggerHolds: `low_battery: false` is none). */
function hasCondition(t: TriggerSpec): boolean {
  return (
    t.on_battery_for !== undefined ||
    t.charge_below !== undefined ||
    t.runtime_below !== undefined ||
    t.low_battery === true ||
    t.fsd === true ||
    t.comm_lost_on_battery === true ||
    t.manual === true ||
    t.any !== undefined ||
    t.all !== undefined
  );
}

export const triggerSchema: z.ZodType<TriggerSpec, TriggerYaml> = z
  .strictObject({
    on_battery_for: duration().optional().describe('On battery without a break for at least this long.'),
    charge_below: z.number().min(0).max(100).optional().describe('On battery and battery.charge below this percentage.'),
    runtime_below: duration().optional().describe('On battery and battery.runtime below this.'),
    low_battery: z.boolean().optional().describe('On battery with LB (not while calibrating), or DEADTIME while on battery.'),
    fsd: z.boolean().optional().describe('The UPS (or a NUT primary) set FSD.'),
    comm_lost_on_battery: z.boolean().optional().describe('Last seen on battery and silent for longer than ups.deadtime.'),
    manual: z.boolean().optional().describe('Fires only on `pvepower trigger STAGE`.'),
    // Getters make the schema recursive; they return fixed instances so the JSON Schema reuses them.
    get any() {
      return anyTriggers;
    },
    get all() {
      return allTriggers;
    },
  })
  .refine(hasCondition, {
    message: 'a trigger needs at least one condition (on_battery_for, charge_below, runtime_below, low_battery, fsd, comm_lost_on_battery, manual, any, all)',
  })
  .meta({ id: 'trigger', description: 'Conditions; several keys in one mapping must all hold.' });

const triggerList = z.array(triggerSchema).min(1).meta({ id: 'triggers' });
const anyTriggers = triggerList.optional().meta({ id: 'trigger-any', description: 'Holds when at least one of these triggers holds.' });
const allTriggers = triggerList.optional().describe('Holds when every one of these triggers holds.');

/** A `match:` list: any of the items. An empty list would match nothing. */
function anyOf<T extends z.ZodType>(item: T, example: string) {
  return z
    .array(item, { error: (iss) => (iss.input === undefined ? undefined : `expected a list, e.g. ${example}`) })
    .min(1, 'an empty list matches nothing; leave the key out to match any')
    .optional();
}

const matchSchema = z
  .strictObject({
    vmid: anyOf(z.int().min(100).max(999_999_999), '[110, 111]').describe('Guest ids.'),
    name: anyOf(z.string().min(1), '["db-*", "web?"]').describe('Guest names; globs with * and ? (case-sensitive).'),
    tags: anyOf(z.string().regex(/^[^\s;,]+$/, 'a Proxmox tag has no spaces, ; or ,'), '[ups-shed]').describe(
      'Proxmox tags (case-insensitive); the guest needs one of them.',
    ),
    pool: anyOf(z.string().min(1), '[production]').describe('Resource pools.'),
    node: anyOf(nodeName, '[pve1]').describe('The node the guest runs on.'),
    type: anyOf(z.enum(['qemu', 'lxc']), '[qemu]').describe('qemu (VM) or lxc (container).'),
  })
  .describe('Which guests the rule takes. Each list means any of; all keys given must match; {} matches every guest.');

const ruleSchema = z.strictObject({
  match: matchSchema,
  stage: stageName.optional().describe('The stage that stops these guests; default: the final stage (shutdown).'),
  group: z
    .int()
    .min(0)
    .optional()
    .describe('Order inside the stage: groups stop one after another, ascending. Default: from the Proxmox startup order, before the explicit groups.'),
  action: z
    .enum(['shutdown', 'hibernate', 'stop', 'skip'])
    .prefault('shutdown')
    .describe('shutdown (ACPI/agent), hibernate (qemu: suspend to disk), stop (hard), skip (leave the guest alone).'),
  timeout: duration({ min: SECOND }).optional().describe("How long the action may take; default: the guest's startup `down`, else 180s."),
  escalation: z.enum(['stop', 'leave']).prefault('stop').describe('After the timeout: stop (hard stop) or leave it running.'),
  restart_on_power_return: z.boolean().prefault(false).describe('Start the guest again when the mains return before the final stage.'),
});

// Megatec `S<n>`: n is .2–.9 (6 s steps) below a minute, else whole minutes up to 10 (NUT nutdrv_qx).
function megatecShutdownDelay(ms: number): string | undefined {
  if (ms < MINUTE ? ms % (6 * SECOND) !== 0 : ms % MINUTE !== 0) {
    return 'the UPS counts this delay in 6 s steps below 1m and in whole minutes above';
  }
  return undefined;
}

const upsSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . and - only (it is the NUT UPS name)')
    .prefault('ups')
    .describe('The UPS name, as NUT clients see it (upsc NAME@host).'),
  driver: z.enum(['megatec', 'nut']).prefault('megatec').describe('megatec: talk to the UPS directly (Q1 protocol); nut: read an existing upsd.'),
  port: z.string().min(1).prefault('auto').describe('auto (USB, 0665:5161 by default) or a serial device such as /dev/ttyUSB0.'),
  vendorid: usbId.optional().describe('USB vendor id, 4 hex digits in quotes ("0665").'),
  productid: usbId.optional().describe('USB product id, 4 hex digits in quotes ("5161").'),
  bus: z.string({ error: quoteNumbers('the bus') }).regex(/^\d{1,3}$/, 'expected the bus number as lsusb prints it, e.g. "003"').optional().describe('USB bus as lsusb prints it ("003").'),
  serial: z.string({ error: quoteNumbers('the serial number') }).min(1).optional().describe('USB serial number of the device.'),
  cablepower: z.enum(['normal', 'reverse', 'both', 'none']).optional().describe('Serial only: DTR/RTS levels powering the cable (NUT cablepower); default normal.'),
  desc: z.string().optional().describe('Free text: model, location.'),
  pollinterval: duration({ min: 200, max: MINUTE }).prefault('1s').describe('How often the UPS is polled.'),
  deadtime: duration({ min: SECOND }).prefault('15s').describe('No good poll for this long while on battery counts as a dead UPS (NUT DEADTIME).'),
  battery: z
    .strictObject({
      voltage: z
        .strictObject({
          nominal: z.number().positive().optional().describe('Nominal battery voltage (12, 24, …).'),
          high: z.number().positive().optional().describe('Voltage of a full battery (100 %).'),
          low: z.number().positive().optional().describe('Voltage of an empty battery (0 %).'),
        })
        .prefault({}),
      packs: z.number().positive().optional().describe('Battery packs (cells) when the UPS reports the voltage per pack.'),
      runtime_full_load: duration({ min: SECOND }).optional().describe('Battery runtime at 100 % load, for runtime estimates.'),
    })
    .prefault({}),
  delay: z
    .strictObject({
      shutdown: duration({ min: 12 * SECOND, max: 10 * MINUTE, check: megatecShutdownDelay })
        .prefault('30s')
        .describe('After killpower, the UPS cuts its output this much later (12s–10m).'),
      start: duration({ max: 9999 * MINUTE, check: (ms) => (ms % MINUTE === 0 ? undefined : 'the UPS counts this delay in whole minutes') })
        .prefault('3m')
        .describe('Once cut, the output returns with the mains no sooner than this (whole minutes).'),
    })
    .prefault({}),
  ignoresab: z.boolean().prefault(false).describe('Ignore the "shutdown active" status bit (units whose bit is stuck and report FSD forever).'),
});

const proxmoxSchema = z.strictObject({
  host: z.string().min(1).prefault('127.0.0.1').describe('API address: this node (127.0.0.1) or any cluster node.'),
  port: z.int().min(1).max(65535).prefault(8006),
  token_id: z
    .string()
    .regex(/^[^\s@!]+@[A-Za-z][A-Za-z0-9.\-_]*![A-Za-z][A-Za-z0-9.\-_]+$/, 'expected USER@REALM!TOKENID, e.g. pvepower@pve!ups')
    .describe('API token id: USER@REALM!TOKENID.'),
  token_secret_file: absolutePath.prefault('/etc/pvepower/token').describe('File holding the token secret (mode 0600).'),
  ca: absolutePath.optional().describe('CA to trust: the cluster CA /etc/pve/pve-root-ca.pem. Set this or fingerprint.'),
  fingerprint: z
    .union([fingerprint, z.record(nodeName, fingerprint)], {
      error: 'expected a fingerprint (AB:CD:…) or a map of node name to fingerprint',
    })
    .optional()
    .describe('SHA-256 certificate fingerprint to pin, or one per node (node: fingerprint). Set this or ca.'),
  self: nodeName.optional().describe("This host's node name; default: the node the API says is local."),
  self_vmid: z
    .int()
    .min(100)
    .max(999999999)
    .optional()
    .describe('When pvepower runs inside a guest of this cluster: its VMID. That guest stops last, after every other guest.'),
  timeout: duration({ min: SECOND }).prefault('30s').describe('Timeout of one API request.'),
});

const stageSchema = z.strictObject({
  when: triggerSchema.describe('The trigger: the stage fires when it holds.'),
  final: z.boolean().optional().describe('The stage that ends with the host shutdown; default: true for `shutdown` only.'),
});

const hostsSchema = z.strictObject({
  order: z.array(nodeName).prefault([]).describe('Other nodes, shut down in this order; the rest follow (Ceph MON nodes last); self is always last.'),
  shutdown_command: z.string().min(1).prefault(DEFAULT_SHUTDOWN_COMMAND).describe("This host's own shutdown command."),
  per_node_limit: z.int().min(1).prefault(DEFAULT_PER_NODE_LIMIT).describe('Guest actions in flight per node.'),
  node_shutdown: z
    .strictObject({
      enabled: z.boolean().prefault(true).describe('Shut the other nodes down in the final stage; false: only this host goes down.'),
    })
    .prefault({}),
});

const configObject = z.strictObject({
  ups: upsSchema.prefault({}),
  proxmox: proxmoxSchema,
  stages: z
    .record(stageName, stageSchema)
    .refine((s) => Object.keys(s).length > 0, 'define at least one stage')
    .prefault(DEFAULT_STAGES)
    .describe('Stages in the order they are listed: name → {when, final}.'),
  guests: z.array(ruleSchema).prefault([]).describe('Guest rules; the first matching rule wins. Unmatched guests stop like Proxmox stopall.'),
  hosts: hostsSchema.prefault({}),
  killpower: z
    .strictObject({
      enabled: z.boolean().prefault(true).describe('Write the flag and tell the UPS to cut power at the very end.'),
      flag: absolutePath.prefault('/etc/killpower').describe('The killpower flag file (NUT POWERDOWNFLAG).'),
    })
    .prefault({}),
  recovery: z
    .strictObject({
      enabled: z.boolean().prefault(true).describe('Start what pvepower stopped when the mains return.'),
      delay: duration().prefault('30s').describe('The mains must be stable this long first.'),
      min_charge: z.number().min(0).max(100).prefault(50).describe('And the battery charged at least this much (%).'),
    })
    .prefault({}),
  ceph: z
    .strictObject({
      enabled: z.union([z.literal('auto'), z.boolean()], { error: 'expected auto, true or false' }).prefault('auto').describe('auto: when the cluster runs Ceph.'),
      flags: z.array(z.enum(CEPH_FLAGS)).min(1).prefault([...DEFAULT_CEPH_FLAGS]).describe('OSD flags set before the hosts go down, cleared on recovery.'),
    })
    .prefault({}),
  ha: z
    .strictObject({
      mode: z
        .enum(['auto', 'disarm', 'stop-states'])
        .prefault('auto')
        .describe('disarm: release HA watchdogs cluster-wide (PVE >= 9.2); stop-states: set HA guests to stopped and back; auto: disarm when available.'),
      resource_mode: z.enum(['freeze', 'ignore']).prefault('freeze').describe('What disarm does with HA resources.'),
    })
    .prefault({}),
  state_dir: absolutePath.prefault('/var/lib/pvepower').describe('Where the journal lives.'),
  log: z
    .strictObject({
      level: z.enum(['error', 'warn', 'info', 'verbose', 'debug']).prefault('info'),
      format: z.enum(['journald', 'text', 'json']).optional().describe('Default: journald under systemd, else text.'),
    })
    .prefault({}),
});

type ConfigObject = z.output<typeof configObject>;

function isFinal(name: string, stage: { final?: boolean | undefined }): boolean {
  return stage.final ?? name === SHUTDOWN_STAGE;
}

/** Marks the issues of crossChecks, which config.ts drops where a key's own value is already wrong. */
export const CROSS_CHECK = 'cross-check';

function add(ctx: z.RefinementCtx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message, params: { [CROSS_CHECK]: true } });
}

/**
 * crossChecks also runs when some values are invalid, so one check-config run reports every
 * error. A value it cannot read yet (wrong type) just means its checks wait for the next run.
 */
function crossChecksOfWhatParsed(c: ConfigObject, ctx: z.RefinementCtx): void {
  try {
    crossChecks(c, ctx);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

/** Checks that involve more than one key. Each issue points at the key to change. */
function crossChecks(c: ConfigObject, ctx: z.RefinementCtx): void {
  const { ups, proxmox, stages, guests, hosts } = c;

  // UPS: USB selectors and serial options must agree with the port (as the transport reads them).
  if (ups.driver === 'megatec' && ups.port !== 'auto' && !ups.port.startsWith('/')) {
    add(ctx, ['ups', 'port'], 'expected auto (USB) or a device path such as /dev/ttyUSB0');
  }
  if (ups.port !== 'auto') {
    for (const key of ['vendorid', 'productid', 'bus', 'serial'] as const) {
      if (ups[key] !== undefined) add(ctx, ['ups', key], `${key} selects a USB device, but port is ${ups.port}: set port: auto`);
    }
  } else if (ups.cablepower !== undefined) {
    add(ctx, ['ups', 'cablepower'], 'cablepower applies to serial ports; port is auto (USB)');
  }
  const { nominal, high, low } = ups.battery.voltage;
  if (high !== undefined && low !== undefined && low >= high) {
    add(ctx, ['ups', 'battery', 'voltage', 'low'], `must be below high (${high})`);
  }
  if (nominal !== undefined && ((low !== undefined && nominal <= low) || (high !== undefined && nominal >= high))) {
    add(ctx, ['ups', 'battery', 'voltage', 'nominal'], 'must lie between low and high');
  }
  if (ups.deadtime < 3 * ups.pollinterval) {
    add(ctx, ['ups', 'deadtime'], `must be at least 3 × pollinterval (${formatDuration(3 * ups.pollinterval)}), so a lost reply or two is not a dead UPS`);
  }

  if (proxmox.ca !== undefined && proxmox.fingerprint !== undefined) {
    add(ctx, ['proxmox', 'fingerprint'], 'set either ca or fingerprint, not both');
  } else if (proxmox.ca === undefined && proxmox.fingerprint === undefined) {
    add(ctx, ['proxmox', 'ca'], 'required: set ca (e.g. /etc/pve/pve-root-ca.pem) or fingerprint');
  }

  const names = Object.keys(stages);
  const finals = names.filter((n) => isFinal(n, stages[n]!));
  if (finals.length === 0) {
    add(ctx, ['stages'], `no final stage: name one stage ${SHUTDOWN_STAGE} or give it final: true`);
  }
  // The executor has one host-shutdown path: a second final stage would be ambiguous.
  for (const extra of finals.slice(1)) {
    if (stages[extra]!.final === undefined) {
      add(ctx, ['stages', extra], `only one stage can be final and ${finals[0]} is: give ${extra} final: false`);
    } else {
      add(ctx, ['stages', extra, 'final'], `only one stage can be final, and ${finals[0]} is`);
    }
  }

  guests.forEach((rule, i) => {
    if (rule.stage !== undefined && !(rule.stage in stages)) {
      add(ctx, ['guests', i, 'stage'], `no stage named ${rule.stage} (stages: ${names.join(', ')})`);
    }
    const types = rule.match.type;
    if (rule.action === 'hibernate' && types !== undefined && !types.includes('qemu')) {
      add(ctx, ['guests', i, 'action'], 'hibernate (suspend to disk) works for qemu VMs only');
    }
  });

  const seen = new Set<string>();
  hosts.order.forEach((node, i) => {
    if (seen.has(node)) add(ctx, ['hosts', 'order', i], `${node} is listed twice`);
    seen.add(node);
    if (node === proxmox.self) add(ctx, ['hosts', 'order', i], `${node} is self (proxmox.self), which always goes last; remove it`);
  });
}

/** Applies the defaults that depend on other keys: which stage is final, a rule's default stage. */
function resolve(c: ConfigObject) {
  const entries = Object.entries(c.stages).map(([name, s]) => [name, { when: s.when, final: isFinal(name, s) }] as const);
  // crossChecks guarantees exactly one final stage before this runs.
  const finalStage = entries.find(([, s]) => s.final)![0];
  return {
    ...c,
    stages: Object.fromEntries(entries) as Record<string, { when: TriggerSpec; final: boolean }>,
    guests: c.guests.map((rule) => ({ ...rule, stage: rule.stage ?? finalStage })),
  };
}

export const configSchema = configObject.check(z.superRefine(crossChecksOfWhatParsed, { when: () => true })).transform(resolve);

/** The parsed config: defaults applied, durations in ms, USB ids as numbers, stages resolved. */
export type PvepowerConfig = z.output<typeof configSchema>;
export type GuestRule = PvepowerConfig['guests'][number];
export type GuestMatch = GuestRule['match'];
