import type { Clock } from '../../src/core/clock.js';
import { sleepOn } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ExecutorEvents } from '../../src/executor/events.js';
import { Executor, type ExecutorOptions } from '../../src/executor/executor.js';
import { Journal } from '../../src/executor/journal.js';
import type { HostActions } from '../../src/host/host.js';
import type { Plan, PlannedGuest, PlanStage } from '../../src/policy/types.js';
import type { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../host/recorder.js';
import type { FakePve } from './fake-pve.js';

export function guest(vmid: number, node: string, opts: Partial<PlannedGuest> = {}): PlannedGuest {
  return {
    vmid,
    node,
    type: 'qemu',
    name: `guest${vmid}`,
    action: 'shutdown',
    timeoutMs: 60_000,
    escalation: 'stop',
    restartOnPowerReturn: false,
    ha: false,
    rule: 'guests[0]',
    ...opts,
  };
}

export function stage(name: string, groups: PlannedGuest[][], final = false): PlanStage {
  return {
    name,
    final,
    groups: groups.map((guests, i) => ({ group: i + 1, guests, estimatedMs: 90_000 })),
    estimatedMs: groups.length * 90_000,
  };
}

/** `nodes` in shutdown order; the last one is self. */
export function plan(stages: PlanStage[], nodes: string[], cephMons: string[] = []): Plan {
  const self = nodes.at(-1)!;
  return {
    stages,
    hosts: nodes.map((node) => ({ node, self: node === self, cephMon: cephMons.includes(node) })),
    self,
    warnings: [],
  };
}

/** Records host actions with the clock time; nothing touches the machine. */
export class FakeHost implements HostActions {
  readonly actions: Array<{ at: number; action: string; detail?: string }> = [];
  flag = false;
  failShutdown = 0;
  /** The shutdown command never returns (the process dies with the host). */
  hangShutdown = false;

  constructor(
    private readonly clock: ManualClock,
    public boot = 'boot-1',
  ) {}

  async writeKillpowerFlag(): Promise<void> {
    this.flag = true;
    this.record('killpower');
  }
  async removeStaleKillpowerFlag(): Promise<boolean> {
    const had = this.flag;
    this.flag = false;
    return had;
  }
  async killpowerFlagSet(): Promise<boolean> {
    return this.flag;
  }
  async runShutdownCommand(): Promise<void> {
    this.record('shutdown', this.flag ? 'flag' : 'no-flag');
    if (this.hangShutdown) await new Promise(() => {});
    if (this.failShutdown > 0) {
      this.failShutdown--;
      throw new Error('shutdown: exit status 1');
    }
  }
  async notify(message: string): Promise<void> {
    this.record('notify', message);
  }
  async bootId(): Promise<string | undefined> {
    return this.boot;
  }

  names(): string[] {
    return this.actions.filter((a) => a.action !== 'notify').map((a) => a.action);
  }

  private record(action: string, detail?: string): void {
    this.actions.push({ at: this.clock.now(), action, ...(detail !== undefined ? { detail } : {}) });
  }
}

export interface Harness {
  clock: ManualClock;
  pve: FakePve;
  host: HostActions;
  journal: Journal;
  executor: Executor;
  dir: string;
  events: Array<{ name: keyof ExecutorEvents; at: number; data: unknown }>;
}

export function harness(
  clock: ManualClock,
  pve: FakePve,
  opts: Partial<ExecutorOptions> & { host?: HostActions; dir?: string } = {},
): Harness {
  const dir = opts.dir ?? tempDir();
  const journal = opts.journal ?? Journal.open({ dir, clock });
  const host = opts.host ?? new FakeHost(clock);
  const executor = new Executor({
    pve,
    host,
    journal,
    clock,
    logger: silentLogger(),
    self: 'pve1',
    haMode: 'stop-states',
    ceph: { enabled: false, flags: [] },
    nodeShutdown: true,
    ...opts,
  });
  const events: Harness['events'] = [];
  const names: Array<keyof ExecutorEvents> = [
    'stage-start', 'stage-done', 'group-start', 'group-done', 'guest-action', 'guest-skipped', 'guest-stopped',
    'guest-escalated', 'guest-failed', 'ha-disarm', 'ceph-flags', 'node-shutdown', 'killpower', 'host-shutdown',
    'recovery-start', 'recovery-guest', 'recovery-ceph', 'recovery-ha-arm', 'recovery-done', 'warning',
  ];
  for (const name of names) {
    executor.on(name, (data: unknown) => events.push({ name, at: clock.now(), data }));
  }
  return { clock, pve, host, journal, executor, dir, events };
}

/**
 * Simulates the daemon dying: once `dead`, the wrapped objects' calls never settle and the
 * wrapped clock's timers never fire, so the old executor stops where it was, mid-action.
 */
export class Crash {
  dead = false;

  clock(inner: ManualClock): Clock {
    const wrapped: Clock = {
      now: () => inner.now(),
      setTimeout: (fn, ms) => inner.setTimeout(() => this.dead || fn(), ms),
      clearTimeout: (handle) => inner.clearTimeout(handle),
      sleep: (ms, signal) => sleepOn(wrapped, ms, signal),
    };
    return wrapped;
  }

  wrap<T extends object>(inner: T): T {
    return new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (this.dead ? new Promise(() => {}) : (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  }
}

/**
 * Advances the manual clock in steps until `promise` settles, letting real I/O (files, child
 * processes) complete between steps. Fails if it takes longer than `maxMs` of clock time.
 */
export async function settle<T>(clock: ManualClock, promise: Promise<T>, opts: { stepMs?: number; maxMs?: number } = {}): Promise<T> {
  const stepMs = opts.stepMs ?? 250;
  const maxMs = opts.maxMs ?? 3_600_000;
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let elapsed = 0; !done; elapsed += stepMs) {
    if (elapsed > maxMs) throw new Error(`still pending after ${maxMs} ms of clock time`);
    await clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 0));
  }
  return promise;
}
