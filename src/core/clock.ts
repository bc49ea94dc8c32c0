/**
 * Time source for every rule with a delay. Production code takes a Clock instead of calling
 * Date.now()/setTimeout directly, so tests drive time with a manual clock and the simulators
 * can run scaled time.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the epoch (in the clock's own time, which may be scaled). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Resolves after `ms` of this clock's time. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

let nextId = 1;

/**
 * Real time, optionally sped up by `scale` (scale 10: a 30 s delay takes 3 s of wall time,
 * and now() advances 10× faster from the moment the clock was made).
 */
export class ScaledClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly wallStart = Date.now();

  constructor(readonly scale = 1) {
    if (!(scale > 0)) throw new RangeError(`time scale must be > 0, got ${scale}`);
  }

  now(): number {
    if (this.scale === 1) return Date.now();
    return this.wallStart + (Date.now() - this.wallStart) * this.scale;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms / this.scale));
    this.timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) clearTimeout(t);
    this.timers.delete(handle.id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
}

/** Shared sleep built on a clock's timers, aborting with the signal's reason. */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: Clock = new ScaledClock(1);
