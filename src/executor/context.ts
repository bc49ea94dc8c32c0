import type { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../host/host.js';
import type { HostActions } from '../host/host.js';
import type { GuestRef, PveApi } from '../pve/types.js';
import type { ExecutorEvents, GuestInfo } from './events.js';
import type { Journal } from './journal.js';

export interface RetryPolicy {
  /** Calls in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 8000 };

/** What the executor and recovery share. */
export interface ExecContext {
  pve: PveApi;
  host: HostActions;
  journal: Journal;
  clock: Clock;
  logger: Logger;
  events: EventEmitter<ExecutorEvents>;
  slots: NodeSlots;
  pollMs: number;
  retry: RetryPolicy;
}

/**
 * Calls Proxmox, retrying failures with exponential backoff on the clock. Every failed attempt
 * is logged; the last error is rethrown for the caller to journal and escalate. An abort stops
 * the retrying (the signal's reason is thrown).
 */
export async function call<T>(
  ctx: ExecContext,
  what: string,
  fn: () => Promise<T>,
  signal?: AbortSignal,
  { powerAction = false }: { powerAction?: boolean } = {},
): Promise<T> {
  const { attempts, baseDelayMs, maxDelayMs } = ctx.retry;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn();
    } catch (err) {
      // A power action that may have reached Proxmox is never sent again blindly: the caller
      // confirms by the guest's status instead (the client already checked its task log).
      if (attempt >= attempts || (powerAction && mayHaveReachedServer(err))) {
        ctx.logger.error(`${what} failed, giving up`, { attempt, error: errorMessage(err) });
        throw err;
      }
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      ctx.logger.warn(`${what} failed, retrying`, { attempt, retryInMs: delay, error: errorMessage(err) });
      await ctx.clock.sleep(delay, signal);
    }
  }
}

/**
 * Polls status/current until the guest reaches `want` or `until` (clock time) passes; true when
 * it got there. Read errors are logged and polled through: only the deadline ends the wait.
 */
export async function waitForStatus(
  ctx: ExecContext,
  ref: GuestRef,
  want: 'stopped' | 'running',
  until: number,
  signal?: AbortSignal,
): Promise<boolean> {
  let errors = 0;
  for (;;) {
    try {
      if ((await ctx.pve.guestStatus(ref)).status === want) return true;
    } catch (err) {
      // The first error is worth a warning; a node that stays unreachable would flood the log.
      if (errors++ === 0) ctx.logger.warn(`status of ${label(ref)} unreadable`, { error: errorMessage(err) });
    }
    const left = until - ctx.clock.now();
    if (left <= 0) return false;
    await ctx.clock.sleep(Math.min(ctx.pollMs, left), signal);
  }
}

export function refOf(g: GuestRef): GuestRef {
  return { node: g.node, type: g.type, vmid: g.vmid };
}

/** HA resource id: `vm:100` / `ct:101`. */
export function haSid(ref: GuestRef): string {
  return `${ref.type === 'qemu' ? 'vm' : 'ct'}:${ref.vmid}`;
}

export function label(ref: GuestRef & { name?: string }): string {
  return `${ref.type === 'qemu' ? 'VM' : 'CT'} ${ref.vmid}${ref.name ? ` (${ref.name})` : ''} on ${ref.node}`;
}

export function guestInfo(g: GuestRef & { name: string }): GuestInfo {
  return { vmid: g.vmid, name: g.name, node: g.node, type: g.type };
}

/** At most `limit` guest actions in flight per node; waiters are served in arrival order. */
export class NodeSlots {
  private readonly busy = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`per-node limit must be >= 1, got ${limit}`);
  }

  /** Resolves with a release function once a slot on `node` is free. */
  async acquire(node: string, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if ((this.busy.get(node) ?? 0) < this.limit) {
      this.busy.set(node, (this.busy.get(node) ?? 0) + 1);
    } else {
      await new Promise<void>((resolve, reject) => {
        const queue = this.waiting.get(node) ?? [];
        this.waiting.set(node, queue);
        const onAbort = () => {
          queue.splice(queue.indexOf(grant), 1);
          reject(signal!.reason);
        };
        // A released slot passes straight to the next waiter, so `busy` stays as it is.
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        queue.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(node)?.shift();
      if (next) next();
      else this.busy.set(node, (this.busy.get(node) ?? 1) - 1);
    };
  }
}

/** True when a failed request may still have been carried out (PveClient errors say so). */
export function mayHaveReachedServer(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { requestSent?: unknown }).requestSent === true;
}
