import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../host/host.js';
import type { CephFlag, HaState } from '../pve/types.js';
import type { ExecContext } from './context.js';
import { call, guestInfo, haSid, label, refOf, waitForStatus } from './context.js';
import type { RecoveryGuestResult, RecoveryResult } from './events.js';
import type { GuestState } from './journal.js';
import { outageOpen } from './journal.js';

export interface PowerReading {
  /** Mains present (UPS status OL). */
  online: boolean;
  /** Battery charge in percent, when the UPS reports or estimates it. */
  charge?: number;
}

export interface StablePowerOptions {
  /** Mains must have been present without a break for this long (config `recovery.delay`). */
  stableForMs: number;
  /** And the battery charged to at least this percent (config `recovery.min_charge`). */
  minCharge: number;
  pollMs?: number;
}

/**
 * Resolves once mains has been present for `stableForMs` without a break and the battery holds
 * `minCharge`. `read` is asked every `pollMs`; a reading on battery restarts the count. A UPS
 * that reports no charge does not hold recovery back (logged once). Rejects when `signal` aborts
 * (power failed again: the daemon runs its stages instead).
 */
export async function waitForStablePower(
  opts: StablePowerOptions,
  read: () => PowerReading,
  deps: { clock: Clock; logger?: Logger; signal?: AbortSignal },
): Promise<void> {
  const pollMs = opts.pollMs ?? 1000;
  let onlineSince: number | undefined;
  let chargeLogged = false;
  for (;;) {
    const reading = read();
    const now = deps.clock.now();
    if (!reading.online) onlineSince = undefined;
    else onlineSince ??= now;
    if (onlineSince !== undefined && now - onlineSince >= opts.stableForMs) {
      if (reading.charge === undefined) {
        if (opts.minCharge > 0) deps.logger?.warn('battery charge unknown; recovering without the minimum charge check');
        return;
      }
      if (reading.charge >= opts.minCharge) return;
      if (!chargeLogged) deps.logger?.info('mains stable; waiting for the battery to charge', { charge: reading.charge, minCharge: opts.minCharge });
      chargeLogged = true;
    }
    await deps.clock.sleep(pollMs, deps.signal);
  }
}

const HA_STATES: readonly string[] = ['started', 'stopped', 'disabled', 'ignored'] satisfies HaState[];

/**
 * Power-return recovery, driven only by the journal:
 * 1. guests whose shutdown was still in flight get until their deadline to finish stopping;
 * 2. wait (bounded) for cluster quorum, which starts and HA changes need;
 * 3. unset the Ceph flags pvepower set (not those that were already set);
 * 4. arm HA if pvepower disarmed it;
 * 5. start the guests pvepower stopped, last-stopped group first (the reverse of the shutdown
 *    order), one group at a time: a shed guest only if its rule says restart_on_power_return; a
 *    final-stage guest if the hosts did not go down (if they did, Proxmox's own onboot start
 *    handles it); an HA guest by setting its HA state back to what it was (this is its start);
 * 6. journal `recovery done` and archive the outage journal.
 * An abort (power failed again) stops before the next step or group; the journal stays open.
 */
export async function recover(
  ctx: ExecContext,
  opts: { signal?: AbortSignal; startTimeoutMs: number; quorumWaitMs: number },
): Promise<RecoveryResult> {
  const { journal } = ctx;
  const state = journal.state;
  const result: RecoveryResult = { recovered: false, hostsWentDown: false, aborted: false, guests: [], cephUnset: [], haArmed: false };
  if (!outageOpen(state)) return result;
  const hostsWentDown = state.pointOfNoReturn || state.hostsDownRounds.length > 0;
  Object.assign(result, { recovered: true, hostsWentDown });
  journal.append({ op: 'recovery', phase: 'intent', hostsWentDown });
  ctx.events.emit('recovery-start', { hostsWentDown });
  ctx.logger.warn('power returned: recovery started', { hostsWentDown });
  const { signal } = opts;
  try {
    await settleInFlight(ctx, signal);
    await waitForQuorum(ctx, opts.quorumWaitMs, signal);
    result.cephUnset = await unsetCephFlags(ctx, signal);
    result.haArmed = await armHa(ctx, signal);
    result.guests = await startGuests(ctx, opts.startTimeoutMs, signal);
  } catch (err) {
    if (!signal?.aborted) throw err;
    journal.append({ op: 'recovery', phase: 'failed', hostsWentDown, error: errorMessage(signal.reason) });
    ctx.logger.warn('recovery aborted', { reason: errorMessage(signal.reason) });
    ctx.events.emit('recovery-done', { ...result, aborted: true });
    return { ...result, aborted: true };
  }
  journal.append({ op: 'recovery', phase: 'done', hostsWentDown });
  result.archive = journal.close();
  ctx.logger.warn('recovery finished', { started: result.guests.filter((g) => g.outcome === 'started').length });
  ctx.events.emit('recovery-done', result);
  return result;
}

/** Gives shutdowns that were sent but not confirmed (aborted stage) until their deadline. */
async function settleInFlight(ctx: ExecContext, signal?: AbortSignal): Promise<void> {
  const open = [...ctx.journal.state.guests.values()].filter((g) => !g.stopped && g.start === undefined);
  await Promise.all(
    open.map(async (g) => {
      const until = Math.max(ctx.clock.now(), g.escalation?.until ?? g.deadline);
      if (await waitForStatus(ctx, refOf(g), 'stopped', until, signal)) {
        ctx.journal.append({ op: 'guest-stopped', phase: 'done', vmid: g.vmid });
      }
    }),
  );
}

async function waitForQuorum(ctx: ExecContext, maxMs: number, signal?: AbortSignal): Promise<void> {
  const until = ctx.clock.now() + maxMs;
  let lastError: string | undefined;
  for (;;) {
    try {
      if ((await ctx.pve.clusterStatus()).quorate) return;
      lastError = undefined;
    } catch (err) {
      lastError = errorMessage(err);
    }
    if (ctx.clock.now() >= until) break;
    await ctx.clock.sleep(Math.min(ctx.pollMs, until - ctx.clock.now()), signal);
  }
  const message = `no cluster quorum after ${Math.round(maxMs / 1000)} s${lastError ? ` (${lastError})` : ''}; recovering anyway, starts may fail`;
  ctx.logger.warn(message);
  ctx.events.emit('warning', { message });
}

async function unsetCephFlags(ctx: ExecContext, signal?: AbortSignal): Promise<CephFlag[]> {
  const ceph = ctx.journal.state.ceph;
  if (!ceph || ceph.unset || ceph.set.length === 0) return [];
  const flags = ceph.set;
  ctx.journal.append({ op: 'ceph-unset', phase: 'intent', flags });
  try {
    await call(ctx, 'unsetting Ceph flags', () => ctx.pve.setCephFlags(Object.fromEntries(flags.map((f) => [f, false]))), signal);
    ctx.journal.append({ op: 'ceph-unset', phase: 'done', flags });
    ctx.events.emit('recovery-ceph', { flags, ok: true });
    ctx.logger.warn('Ceph flags pvepower set are unset again', { flags, keptSet: ceph.already });
    return flags;
  } catch (err) {
    signal?.throwIfAborted();
    ctx.journal.append({ op: 'ceph-unset', phase: 'failed', flags, error: errorMessage(err) });
    ctx.events.emit('recovery-ceph', { flags, ok: false, error: errorMessage(err) });
    return [];
  }
}

async function armHa(ctx: ExecContext, signal?: AbortSignal): Promise<boolean> {
  const state = ctx.journal.state;
  if (!state.haDisarmed || state.haArmed) return false;
  ctx.journal.append({ op: 'ha-arm', phase: 'intent' });
  try {
    await call(ctx, 'arming HA', () => ctx.pve.armHa(), signal);
    ctx.journal.append({ op: 'ha-arm', phase: 'done' });
    ctx.events.emit('recovery-ha-arm', { ok: true });
    ctx.logger.warn('HA armed again');
    return true;
  } catch (err) {
    signal?.throwIfAborted();
    ctx.journal.append({ op: 'ha-arm', phase: 'failed', error: errorMessage(err) });
    ctx.events.emit('recovery-ha-arm', { ok: false, error: errorMessage(err) });
    return false;
  }
}

function restartReason(g: GuestState, hostsDownRounds: readonly number[]): string | undefined {
  if (!g.final) return g.restart ? undefined : 'its rule does not restart it on power return';
  if (g.ha || !hostsDownRounds.includes(g.round)) return undefined;
  return 'the hosts went down; Proxmox starts it at boot if it has onboot set';
}

async function startGuests(ctx: ExecContext, startTimeoutMs: number, signal?: AbortSignal): Promise<RecoveryGuestResult[]> {
  const results: RecoveryGuestResult[] = [];
  const batches = new Map<string, GuestState[]>();
  const { guests, hostsDownRounds } = ctx.journal.state;
  for (const g of guests.values()) {
    if (!g.stopped || g.start === 'done') continue;
    const reason = restartReason(g, hostsDownRounds);
    if (reason) {
      const note = g.ha ? ` (HA state stays 'stopped', was '${g.haPrev ?? 'started'}')` : '';
      ctx.logger.info(`${label(g)} stays stopped: ${reason}${note}`);
      const r: RecoveryGuestResult = { guest: guestInfo(g), how: 'none', outcome: 'left-stopped' };
      ctx.events.emit('recovery-guest', r);
      results.push(r);
      continue;
    }
    const key = `${g.round}\u0000${g.stage}\u0000${g.group}`;
    batches.set(key, [...(batches.get(key) ?? []), g]);
  }
  // Last stopped first: groups ran one after the other, so their request times order them.
  const ordered = [...batches.values()].sort(
    (a, b) => Math.min(...b.map((g) => g.requestedAt)) - Math.min(...a.map((g) => g.requestedAt)),
  );
  for (const batch of ordered) {
    signal?.throwIfAborted();
    results.push(...(await Promise.all(batch.map((g) => startGuest(ctx, g, startTimeoutMs, signal)))));
  }
  return results;
}

async function startGuest(ctx: ExecContext, g: GuestState, startTimeoutMs: number, signal?: AbortSignal): Promise<RecoveryGuestResult> {
  const { journal, pve } = ctx;
  const ref = refOf(g);
  const guest = guestInfo(g);
  const release = await ctx.slots.acquire(g.node, signal);
  try {
    const status = await call(ctx, `status of ${label(g)}`, () => pve.guestStatus(ref), signal).catch((err: unknown) => {
      signal?.throwIfAborted();
      ctx.logger.warn(`${label(g)}: status unreadable (${errorMessage(err)}); starting it anyway`);
      return undefined;
    });
    let r: RecoveryGuestResult;
    if (status?.status === 'running') {
      journal.append({ op: 'guest-start', phase: 'done', vmid: g.vmid });
      r = { guest, how: 'none', outcome: 'already-running' };
    } else {
      r = await requestStart(ctx, g, startTimeoutMs, signal);
    }
    ctx.events.emit('recovery-guest', r);
    return r;
  } finally {
    release();
  }
}

async function requestStart(ctx: ExecContext, g: GuestState, startTimeoutMs: number, signal?: AbortSignal): Promise<RecoveryGuestResult> {
  const { journal, pve } = ctx;
  const ref = refOf(g);
  const guest = guestInfo(g);
  const haState = (g.haPrev !== undefined && HA_STATES.includes(g.haPrev) ? g.haPrev : 'started') as HaState;
  const how = g.ha ? 'ha-state' : 'start';
  journal.append({ op: 'guest-start', phase: 'intent', vmid: g.vmid, how, ...(g.ha ? { haState } : {}) });
  try {
    if (g.ha) await call(ctx, `HA state of ${label(g)} back to ${haState}`, () => pve.setHaState(haSid(g), haState), signal);
    else await call(ctx, `start of ${label(g)}`, () => pve.startGuest(ref), signal, { powerAction: true });
  } catch (err) {
    signal?.throwIfAborted();
    journal.append({ op: 'guest-start', phase: 'failed', vmid: g.vmid, error: errorMessage(err) });
    return { guest, how, outcome: 'failed', error: errorMessage(err) };
  }
  journal.append({ op: 'guest-start', phase: 'done', vmid: g.vmid });
  ctx.logger.info(`${label(g)} started${g.ha ? ` (HA state ${haState})` : ''}`);
  // Wait for it to run, so the next group starts after this one, as startall does.
  const expectRunning = !g.ha || haState === 'started';
  if (expectRunning && !(await waitForStatus(ctx, ref, 'running', ctx.clock.now() + startTimeoutMs, signal))) {
    ctx.logger.warn(`${label(g)} not running ${Math.round(startTimeoutMs / 1000)} s after its start; going on`);
  }
  return { guest, how, outcome: 'started' };
}
