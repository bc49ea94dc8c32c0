import { formatDuration } from '../core/duration.js';
import type { GuestMatch, PvepowerConfig } from './schema.js';
import type { Plan, PlanGroup, TriggerSpec } from './types.js';

/** A trigger in words: `any of (on battery for 10m; charge below 40%)`. */
export function formatTrigger(spec: TriggerSpec): string {
  const parts: string[] = [];
  if (spec.on_battery_for !== undefined) parts.push(`on battery for ${formatDuration(spec.on_battery_for)}`);
  if (spec.charge_below !== undefined) parts.push(`charge below ${spec.charge_below}%`);
  if (spec.runtime_below !== undefined) parts.push(`runtime below ${formatDuration(spec.runtime_below)}`);
  if (spec.low_battery) parts.push('low battery');
  if (spec.fsd) parts.push('FSD');
  if (spec.comm_lost_on_battery) parts.push('UPS silent while on battery');
  if (spec.manual) parts.push('an operator runs pvepower trigger');
  if (spec.any) parts.push(`any of (${spec.any.map(formatTrigger).join('; ')})`);
  if (spec.all) parts.push(`all of (${spec.all.map(formatTrigger).join('; ')})`);
  return parts.join(' and ');
}

/** A rule's match in words: `tags ups-shed, vmid 110`; `every guest` for `{}`. */
export function formatMatch(match: GuestMatch): string {
  const parts = Object.entries(match).map(([key, values]) => `${key} ${(values as unknown[]).join('|')}`);
  return parts.length > 0 ? parts.join(', ') : 'every guest';
}

function groupTitle(g: PlanGroup): string {
  return g.label ?? `group ${g.group}`;
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
function columns(rows: readonly string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

const GUEST_HEADER = ['NODE', 'VMID', 'TYPE', 'NAME', 'ACTION', 'TIMEOUT', 'ESCALATION', 'RULE', 'NOTES'];

/**
 * The plan as `pvepower plan` prints it: each stage with its trigger and estimate, its groups in
 * the order they run, one line per guest; then the host order and the warnings.
 */
export function formatPlanTable(plan: Plan): string {
  const out: string[] = [];
  const runtime = plan.runtimeMs === undefined ? '' : `, battery runtime ${formatDuration(plan.runtimeMs)}`;
  out.push(`plan for ${plan.self}${runtime}`);

  // One table for all guests, so the columns line up across stages and groups.
  const rows: string[][] = [GUEST_HEADER];
  for (const stage of plan.stages) {
    for (const group of stage.groups) {
      for (const g of group.guests) {
        const notes = [g.ha ? 'HA' : '', g.restartOnPowerReturn ? 'restart on power return' : ''].filter(Boolean).join(', ');
        const escalation = g.action === 'stop' ? '-' : g.escalation;
        rows.push([g.node, String(g.vmid), g.type, g.name || '-', g.action, formatDuration(g.timeoutMs), escalation, g.rule, notes]);
      }
    }
  }
  const lines = columns(rows, '    ');
  let next = 1;

  for (const stage of plan.stages) {
    const estimate = stage.groups.length === 0 ? 'no guests' : `about ${formatDuration(stage.estimatedMs)}`;
    out.push('', `stage ${stage.name}${stage.final ? ' (final)' : ''}: ${estimate}`);
    if (stage.trigger) out.push(`  when ${formatTrigger(stage.trigger)}`);
    if (stage.groups.length === 0) continue;
    out.push(lines[0]!);
    for (const group of stage.groups) {
      const n = group.guests.length;
      out.push(`  ${groupTitle(group)}: ${n} guest${n === 1 ? '' : 's'}, about ${formatDuration(group.estimatedMs)}`);
      out.push(...lines.slice(next, next + n));
      next += n;
    }
  }

  out.push('', `hosts: ${plan.hosts.map((h) => `${h.node}${h.self ? ' (self)' : h.cephMon ? ' (Ceph MON)' : ''}`).join(' → ')}`);
  if (plan.warnings.length > 0) {
    out.push('', 'warnings:', ...plan.warnings.map((w) => `  ! ${w}`));
  }
  return `${out.join('\n')}\n`;
}

/** The plan as JSON text (`pvepower plan --json`): the Plan object, durations in ms. */
export function planToJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

/** What `pvepower check-config` prints under `FILE: OK`: the settings that matter, in words. */
export function formatConfigSummary(config: PvepowerConfig): string {
  const { ups, proxmox, hosts } = config;
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  const ids = [
    ups.vendorid === undefined ? '' : ` vendorid ${hex(ups.vendorid)}`,
    ups.productid === undefined ? '' : ` productid ${hex(ups.productid)}`,
  ].join('');
  const port = ups.port === 'auto' ? `USB (auto${ids})` : ups.port;
  const trust = proxmox.ca !== undefined ? `CA ${proxmox.ca}` : 'pinned fingerprint';
  const lines = [
    `ups ${ups.name}: ${ups.driver} on ${port}, poll every ${formatDuration(ups.pollinterval)}`,
    `proxmox: ${proxmox.host}:${proxmox.port} as ${proxmox.token_id}, ${trust}`,
    ...Object.entries(config.stages).map(([name, s]) => `stage ${name}${s.final ? ' (final)' : ''}: when ${formatTrigger(s.when)}`),
    ...config.guests.map((r, i) => {
      const group = r.group === undefined ? 'startup order' : `group ${r.group}`;
      const timeout = r.timeout === undefined ? '' : `, ${formatDuration(r.timeout)}`;
      return `guests[${i}]: ${formatMatch(r.match)} → ${r.action === 'skip' ? 'skip' : `${r.stage}, ${group}, ${r.action}${timeout}`}`;
    }),
    `hosts: ${hosts.node_shutdown.enabled ? [...hosts.order, 'other nodes (Ceph MON last)', 'self'].join(' → ') : 'self only'}`,
  ];
  return `${lines.join('\n')}\n`;
}
