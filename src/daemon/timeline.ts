import { formatDuration } from '../core/duration.js';
import type { Executor } from '../executor/executor.js';
import type { ExecutorEvents, GuestInfo } from '../executor/events.js';

/** One line of what happened during an outage: what `drill` prints and `run` logs. */
export interface TimelineEntry {
  time: number;
  /** `ups`, `stage`, `guest`, `host`, `recovery`, `warning` */
  kind: string;
  text: string;
}

const who = (g: GuestInfo) => `${g.type === 'lxc' ? 'CT' : 'VM'} ${g.vmid} (${g.name}) on ${g.node}`;

type Describe = { [K in keyof ExecutorEvents]: (...args: ExecutorEvents[K]) => [string, string] };

/** Human wording of every executor event, so drill's timeline and the daemon's log agree. */
const DESCRIBE: Describe = {
  'stage-start': (e) => ['stage', `stage ${e.stage} starts${e.final ? ' (final)' : ''}${e.resumed ? ', resumed from the journal' : ''}`],
  'stage-done': (r) => [
    'stage',
    `stage ${r.stage} ${r.aborted ? 'aborted' : r.skipped ? 'already done' : 'done'}: ` +
      `${r.guests.filter((g) => g.outcome === 'stopped').length} stopped` +
      `${r.guests.some((g) => g.outcome === 'unresolved') ? `, ${r.guests.filter((g) => g.outcome === 'unresolved').length} unresolved` : ''}`,
  ],
  'group-start': (e) => ['stage', `${e.stage}: ${e.label ?? `group ${e.group}`} (${e.guests} guest${e.guests === 1 ? '' : 's'})`],
  'group-done': (e) => ['stage', `${e.stage}: ${e.label ?? `group ${e.group}`} done`],
  'guest-action': (e) => ['guest', `${e.action} ${who(e.guest)}${e.ha ? ' through HA' : ''}`],
  'guest-skipped': (e) => ['guest', `skip ${who(e.guest)}: ${e.reason}`],
  'guest-stopped': (e) => ['guest', `${who(e.guest)} stopped after ${formatDuration(e.afterMs)}`],
  'guest-escalated': (e) => ['guest', `${who(e.guest)} did not stop in time: ${e.how === 'leave' ? 'left running' : 'force-stop'}`],
  'guest-failed': (e) => ['guest', `${who(e.guest)} could not be stopped: ${e.error}`],
  'ha-disarm': (e) => ['host', e.ok ? 'HA disarmed (watchdogs released)' : `HA disarm failed: ${e.error}`],
  'ceph-flags': (e) =>
    ['host', e.ok ? `Ceph flags set: ${e.set.join(', ') || 'none'}${e.already.length ? ` (already set: ${e.already.join(', ')})` : ''}` : `Ceph flags failed: ${e.error}`],
  'node-shutdown': (e) =>
    ['host', e.skipped ? `node ${e.node} skipped: ${e.skipped}` : e.ok ? `node ${e.node}: shutdown sent` : `node ${e.node}: shutdown failed: ${e.error}`],
  killpower: (e) => ['host', e.ok ? 'killpower flag written' : `killpower flag failed: ${e.error}`],
  'host-shutdown': (e) => ['host', e.ok ? 'host shutdown command ran' : `host shutdown command failed: ${e.error}`],
  'recovery-start': (e) => ['recovery', `recovery starts${e.hostsWentDown ? ' (the hosts went down)' : ''}`],
  'recovery-guest': (r) => ['recovery', `${who(r.guest)}: ${r.outcome}${r.error ? ` (${r.error})` : ''}`],
  'recovery-ceph': (e) => ['recovery', e.ok ? `Ceph flags unset: ${e.flags.join(', ') || 'none'}` : `Ceph unset failed: ${e.error}`],
  'recovery-ha-arm': (e) => ['recovery', e.ok ? 'HA armed again' : `HA arm failed: ${e.error}`],
  'recovery-done': (r) => ['recovery', `recovery done: ${r.guests.filter((g) => g.outcome === 'started').length} started`],
  warning: (e) => ['warning', e.message],
};

/** Calls `sink` with a timeline entry for every executor event; returns the unsubscribe function. */
export function followExecutor(executor: Executor, now: () => number, sink: (e: TimelineEntry) => void): () => void {
  const offs = (Object.keys(DESCRIBE) as (keyof ExecutorEvents)[]).map((name) => {
    const listener = (...args: unknown[]) => {
      const [kind, text] = (DESCRIBE[name] as (...a: unknown[]) => [string, string])(...args);
      sink({ time: now(), kind, text });
    };
    executor.on(name, listener as never);
    return () => executor.off(name, listener as never);
  });
  return () => offs.forEach((off) => off());
}
