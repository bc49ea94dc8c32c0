/**
 * When an injected fault fires. `on`/`off` for every reply, `count` for the next N, `every` for
 * every N-th (1 = all). Counting is per fault and only over the replies (or, for comm loss,
 * commands) the fault is asked about.
 */
export interface FaultSpec {
  on?: boolean;
  count?: number;
  every?: number;
}

export type FaultStatus =
  | { mode: 'off' }
  | { mode: 'on' }
  | { mode: 'count'; remaining: number }
  | { mode: 'every'; every: number; seen: number };

export class Fault {
  private status: FaultStatus = { mode: 'off' };

  constructor(spec?: FaultSpec) {
    if (spec) this.set(spec);
  }

  /** Replaces the setting; throws a RangeError on an ambiguous or invalid spec. */
  set(spec: FaultSpec): void {
    const given = [spec.on !== undefined, spec.count !== undefined, spec.every !== undefined].filter(Boolean).length;
    if (given !== 1) throw new RangeError('give exactly one of on, count, every');
    if (spec.count !== undefined) {
      this.status = { mode: 'count', remaining: wholeNumber('count', spec.count, 0) };
    } else if (spec.every !== undefined) {
      this.status = { mode: 'every', every: wholeNumber('every', spec.every, 1), seen: 0 };
    } else {
      this.status = { mode: spec.on ? 'on' : 'off' };
    }
  }

  /** Asks whether the fault hits this reply, and counts it. */
  take(): boolean {
    const s = this.status;
    switch (s.mode) {
      case 'off':
        return false;
      case 'on':
        return true;
      case 'count':
        if (s.remaining === 0) return false;
        s.remaining--;
        return true;
      case 'every':
        s.seen++;
        return s.seen % s.every === 0;
    }
  }

  describe(): FaultStatus {
    return { ...this.status };
  }
}

function wholeNumber(name: string, v: number, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${name} must be a whole number ≥ ${min}, got ${v}`);
  return v;
}
