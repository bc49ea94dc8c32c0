import { formatDuration } from '../core/duration.js';
import type { Guest, NodeInfo } from '../pve/types.js';
import { compileMatch, type GuestMatcher } from './match.js';
import type { GuestRule, PvepowerConfig } from './schema.js';
import type { GuestAction, HostStep, Plan, PlanGroup, PlannedGuest, PlanStage } from './types.js';

/** stopall's per-guest timeout when the guest's startup has no `down`. */
export const DEFAULT_GUEST_TIMEOUT_MS = 180_000;
/** What a hard stop adds after the timeout: SIGTERM, 10 s, SIGKILL (qemu-server). */
export const ESCALATION_ALLOWANCE_MS = 10_000;
/** PlannedGuest.rule for guests no rule matched. */
export const STARTUP_ORDER_RULE = 'startup-order';
/**
 * Group of guests without a startup order. stopall treats a missing order as LONG_MAX, so they go
 * first; below every derived group number (-(order + 1)).
 */
export const UNORDERED_GROUP = Number.MIN_SAFE_INTEGER;

export interface PlanInput {
  /** Every guest of the cluster (GET /cluster/resources); templates and stopped guests are left out here. */
  guests: readonly Guest[];
  nodes: readonly NodeInfo[];
  /** This node's name: its host shutdown comes last. */
  self: string;
  /** pvepower runs inside this guest of the cluster: it stops last of all guests. */
  selfVmid?: number;
  /** Current battery runtime estimate. */
  runtimeMs?: number;
  /** PVE version (GET /version `version`, e.g. 9.1.4), for the HA warning. */
  pveVersion?: string;
}

/**
 * The group number of a guest whose rule names no group: its startup order, reversed, as stopall
 * does (unordered first, then the highest order). The numbers are negative, so these groups run
 * before the explicit groups (0, 1, 2 …) of the same stage, and depend only on the guest itself,
 * so a plan rebuilt mid-outage gives a group the same number.
 */
export function startupGroup(order: number | undefined): number {
  return order === undefined ? UNORDERED_GROUP : -(order + 1);
}

function startupLabel(order: number | undefined): string {
  return order === undefined ? 'no startup order' : `startup order ${order}`;
}

/** Time a guest can take: its timeout, plus the hard stop when it escalates. */
export function guestCostMs(g: Pick<PlannedGuest, 'timeoutMs' | 'escalation'>): number {
  return g.timeoutMs + (g.escalation === 'stop' ? ESCALATION_ALLOWANCE_MS : 0);
}

/**
 * How long a group takes when every guest uses its full time: guests start in group order, at
 * most `perNodeLimit` at once per node (the executor's slots), each in the first slot to free up.
 * With no more guests per node than the limit this is the slowest guest.
 */
export function groupEstimateMs(guests: readonly PlannedGuest[], perNodeLimit: number): number {
  const slots = new Map<string, MinHeap>();
  let end = 0;
  for (const g of guests) {
    let heap = slots.get(g.node);
    if (!heap) slots.set(g.node, (heap = new MinHeap()));
    const start = heap.size < perNodeLimit ? 0 : heap.pop();
    const done = start + guestCostMs(g);
    heap.push(done);
    end = Math.max(end, done);
  }
  return end;
}

/** Smallest-first heap of slot end times. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    a.push(value);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (a[up]! <= a[i]!) break;
      [a[up], a[i]] = [a[i]!, a[up]!];
      i = up;
    }
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** True when `version` (9.1.4) is older than major.minor. */
function olderThan(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj < major || (maj === major && min < minor);
}

function isHa(g: Guest): boolean {
  return g.hastate !== undefined && g.hastate !== 'ignored';
}

function guestLabel(g: Guest): string {
  return `${g.type === 'qemu' ? 'VM' : 'CT'} ${g.vmid}${g.name ? ` (${g.name})` : ''}`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

interface CompiledRule {
  rule: GuestRule;
  id: string;
  matches: GuestMatcher;
  wins: number;
  /** hibernate turned into shutdown: containers, HA guests. */
  noHibernate: number;
}

interface Slot {
  stage: string;
  group: number;
  label?: string;
  guests: PlannedGuest[];
}

/**
 * Computes what a power failure does, from the config and the cluster as it is now.
 *
 * - Guests: running, not templates, not on an offline node. The first matching rule decides;
 *   `skip` keeps the guest out. Guests no rule matches stop in the final stage like Proxmox's
 *   stopall: grouped by startup order, unordered first, then highest order first, with the
 *   startup `down` (else 180 s) as timeout and a hard stop after it.
 * - A rule without `group` uses the same startup-order groups, inside its stage. Those groups run
 *   before the stage's explicit groups: an explicit group says "after the rest", as for a NAS.
 * - pvepower's own guest (selfVmid) stops last of all: its own group after every explicit group
 *   of the final stage.
 * - Inside a group guests are listed VMIDs descending (stopall's order); they run in parallel.
 * - Hosts: hosts.order first, then the other online nodes (Ceph MON nodes last), self last.
 */
export function buildPlan(config: PvepowerConfig, input: PlanInput): Plan {
  const warnings: string[] = [];
  const stageEntries = Object.entries(config.stages);
  const finalStage = stageEntries.find(([, s]) => s.final)![0];
  const rules: CompiledRule[] = config.guests.map((rule, i) => ({
    rule,
    id: `guests[${i}]`,
    matches: compileMatch(rule.match),
    wins: 0,
    noHibernate: 0,
  }));
  // Config-only, so a rebuilt plan numbers it the same.
  const selfGroup = Math.max(-1, ...config.guests.map((r) => r.group ?? -1)) + 1;

  const offline = new Set(input.nodes.filter((n) => !n.online).map((n) => n.node));
  const leftOnOffline = new Map<string, number>();
  const eligible: Guest[] = [];
  for (const g of input.guests) {
    if (g.template || g.status !== 'running') continue;
    if (offline.has(g.node)) {
      leftOnOffline.set(g.node, (leftOnOffline.get(g.node) ?? 0) + 1);
      continue;
    }
    eligible.push(g);
  }
  for (const [node, n] of leftOnOffline) {
    warnings.push(`node ${node} is offline: leaving out ${count(n, 'guest')} listed as running there`);
  }

  const slots = new Map<string, Slot>();
  const slotFor = (stage: string, group: number, label?: string): Slot => {
    const key = `${stage}\u0000${group}`;
    let slot = slots.get(key);
    if (!slot) slots.set(key, (slot = label === undefined ? { stage, group, guests: [] } : { stage, group, label, guests: [] }));
    return slot;
  };

  let selfFound = false;
  let haGuests = 0;
  for (const g of eligible) {
    const winner = rules.find((r) => r.matches(g));
    const rule = winner?.rule;
    if (winner) winner.wins++;
    const isSelf = input.selfVmid !== undefined && g.vmid === input.selfVmid;
    if (isSelf) selfFound = true;
    let action: GuestAction = rule?.action ?? 'shutdown';
    if (action === 'skip') continue;
    const ha = isHa(g);
    if (action === 'hibernate' && (g.type !== 'qemu' || ha)) {
      // Suspend to disk exists for qemu only and Proxmox refuses it for HA resources.
      action = 'shutdown';
      winner!.noHibernate++;
    }
    const down = g.startup?.down;
    const planned: PlannedGuest = {
      node: g.node,
      type: g.type,
      vmid: g.vmid,
      name: g.name,
      action,
      // stopall's `down // 180`; a `down` of 0 is taken as unset rather than as no time at all.
      timeoutMs: rule?.timeout ?? (down ? down * 1000 : DEFAULT_GUEST_TIMEOUT_MS),
      escalation: rule?.escalation ?? 'stop',
      restartOnPowerReturn: rule?.restart_on_power_return ?? false,
      ha,
      rule: winner?.id ?? STARTUP_ORDER_RULE,
    };
    if (ha) haGuests++;

    let slot: Slot;
    if (isSelf) {
      if (rule && rule.stage !== finalStage) {
        warnings.push(`pvepower runs in ${guestLabel(g)}: ${winner!.id} puts it in stage ${rule.stage}, but it stops last, in ${finalStage}`);
      }
      slot = slotFor(finalStage, selfGroup, "pvepower's own guest");
    } else if (rule?.group !== undefined) {
      slot = slotFor(rule.stage, rule.group);
    } else {
      const order = g.startup?.order;
      slot = slotFor(rule?.stage ?? finalStage, startupGroup(order), startupLabel(order));
    }
    slot.guests.push(planned);
  }
  if (input.selfVmid !== undefined && !selfFound) {
    warnings.push(`selfVmid ${input.selfVmid} is not a running guest of this cluster`);
  }

  ruleWarnings(rules, eligible, warnings);

  const stages: PlanStage[] = stageEntries.map(([name, s]) => {
    const groups: PlanGroup[] = [...slots.values()]
      .filter((slot) => slot.stage === name)
      .sort((a, b) => a.group - b.group)
      .map((slot) => {
        const guests = slot.guests.sort((a, b) => b.vmid - a.vmid || a.node.localeCompare(b.node));
        const group: PlanGroup = { group: slot.group, guests, estimatedMs: groupEstimateMs(guests, config.hosts.per_node_limit) };
        if (slot.label !== undefined) group.label = slot.label;
        return group;
      });
    return { name, final: s.final, groups, estimatedMs: groups.reduce((sum, g) => sum + g.estimatedMs, 0), trigger: s.when };
  });

  if (input.runtimeMs !== undefined) {
    // Worst case: the final stage fires before the stages listed ahead of it have run.
    const upToFinal = stages.slice(0, stages.findIndex((s) => s.final) + 1);
    const needed = upToFinal.reduce((sum, s) => sum + s.estimatedMs, 0);
    if (needed > input.runtimeMs) {
      warnings.push(
        `plan needs ${formatDuration(needed)}, battery runtime is ${formatDuration(input.runtimeMs)} ` +
          `(stages ${upToFinal.map((s) => s.name).join(' + ')}): shorten timeouts or let the stages fire earlier`,
      );
    }
  }

  if (haGuests > 0 && input.pveVersion !== undefined && olderThan(input.pveVersion, 9, 2)) {
    warnings.push(
      config.ha.mode === 'disarm'
        ? `ha.mode is disarm, but PVE ${input.pveVersion} cannot disarm HA (needs 9.2): set ha.mode to auto or stop-states`
        : `${count(haGuests, 'HA guest')} and PVE ${input.pveVersion} (< 9.2, no HA disarm): HA guests are stopped by setting their HA state, ` +
            'and nodes with HA resources may self-fence (hard reset) once the cluster loses quorum during the host shutdown',
    );
  }

  const plan: Plan = { stages, hosts: hostOrder(config, input, warnings), self: input.self, warnings };
  if (input.runtimeMs !== undefined) plan.runtimeMs = input.runtimeMs;
  return plan;
}

function ruleWarnings(rules: readonly CompiledRule[], eligible: readonly Guest[], warnings: string[]): void {
  for (const r of rules) {
    if (r.noHibernate > 0) {
      warnings.push(`${r.id}: hibernate works for non-HA qemu VMs only; ${count(r.noHibernate, 'guest')} shut down instead`);
    }
  }
  if (eligible.length === 0) return;
  for (const r of rules) {
    // A catch-all that earlier rules leave empty is normal; a specific rule that wins nothing is a typo or misordered.
    if (r.wins > 0 || Object.keys(r.rule.match).length === 0) continue;
    warnings.push(
      eligible.some(r.matches)
        ? `${r.id} takes no guest: every guest it matches is taken by an earlier rule`
        : `${r.id} matches no running guest`,
    );
  }
}

const byName = (a: NodeInfo, b: NodeInfo) => a.node.localeCompare(b.node, 'en', { numeric: true });

function hostOrder(config: PvepowerConfig, input: PlanInput, warnings: string[]): HostStep[] {
  const { self, nodes } = input;
  const known = new Map(nodes.map((n) => [n.node, n]));
  const selfNode = known.get(self);
  if (!selfNode) warnings.push(`self node ${self} is not among the cluster's nodes`);
  const selfStep: HostStep = { node: self, self: true, cephMon: selfNode?.cephMon === true };
  if (!config.hosts.node_shutdown.enabled) return [selfStep];

  const others: NodeInfo[] = [];
  const listed = new Set<string>();
  for (const name of config.hosts.order) {
    listed.add(name);
    const node = known.get(name);
    if (!node) warnings.push(`hosts.order names ${name}, which is not a node of this cluster`);
    else if (name !== self && node.online) others.push(node);
  }
  const rest = nodes.filter((n) => n.online && n.node !== self && !listed.has(n.node));
  others.push(...rest.filter((n) => !n.cephMon).sort(byName), ...rest.filter((n) => n.cephMon).sort(byName));

  const firstMon = others.findIndex((n) => n.cephMon);
  const lateNonMon = others.findLast((n, i) => i > firstMon && !n.cephMon);
  if (firstMon >= 0 && lateNonMon) {
    warnings.push(
      `Ceph MON node ${others[firstMon]!.node} goes down before ${lateNonMon.node}, which runs no MON: ` +
        'Ceph wants nodes without monitors powered off first (reorder hosts.order)',
    );
  }
  return [...others.map((n) => ({ node: n.node, self: false, cephMon: n.cephMon === true })), selfStep];
}
