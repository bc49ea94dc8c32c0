import { sleepOn, type Clock, type TimerHandle } from '../../core/clock.js';

/**
 * A clock view that remembers its pending timers, so closing the simulator cancels every
 * scheduled guest shutdown, HA round and boot instead of leaving them to fire (and keep the
 * process alive) afterwards.
 */
export class TrackedClock implements Clock {
  private readonly pending = new Map<number, TimerHandle>();
  private nextId = 1;
  private disposed = false;

  constructor(private readonly inner: Clock) {}

  now(): number {
    return this.inner.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    if (this.disposed) return { id };
    const handle = this.inner.setTimeout(() => {
      this.pending.delete(id);
      fn();
    }, ms);
    this.pending.set(id, handle);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.inner.clearTimeout(this.pending.get(handle.id));
    this.pending.delete(handle.id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Cancels every pending timer; later setTimeout calls are ignored. */
  dispose(): void {
    this.disposed = true;
    for (const handle of this.pending.values()) this.inner.clearTimeout(handle);
    this.pending.clear();
  }
}
