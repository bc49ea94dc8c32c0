import { pathPattern } from './audit.js';
import type { HttpMethodName } from './scenario.js';

/**
 * Faults on demand, for tests and scenarios. Request faults match a method and a path pattern
 * (below /api2/json; `*` one segment, `**` any) and hit the Nth matching request (or every one):
 * - `error`: an HTTP error instead of the real answer (phase `after`: the call still takes effect,
 *   only its answer is lost, as when a proxy times out);
 * - `delay`: the answer comes `seconds` of simulated time later;
 * - `reset`: the TCP connection is destroyed (phase `after`: once the call took effect).
 * `node-offline` powers a node off `at` simulated seconds after the simulation starts (scenario)
 * or after it is injected (sim.inject).
 */
interface Match {
  method?: HttpMethodName;
  path: string;
  nth?: number;
  times?: number;
}

export type Fault =
  | (Match & { kind: 'error'; status?: number; message?: string; phase?: 'before' | 'after' })
  | (Match & { kind: 'delay'; seconds: number })
  | (Match & { kind: 'reset'; phase?: 'before' | 'after' })
  | { kind: 'node-offline'; node: string; at?: number };

export type RequestFault = Exclude<Fault, { kind: 'node-offline' }>;
/** The faults that replace an answer (delays only postpone it). */
export type AnswerFault = Exclude<RequestFault, { kind: 'delay' }>;

export interface FaultHits {
  /** Simulated milliseconds to hold the answer back. */
  delayMs: number;
  before?: AnswerFault;
  after?: AnswerFault;
  /** `id:kind` of each rule that fired, for the audit log. */
  labels: string[];
}

interface Rule {
  id: number;
  fault: RequestFault;
  re: RegExp;
  seen: number;
  hits: number;
}

export class FaultInjector {
  private readonly rules: Rule[] = [];
  private nextId = 1;

  add(fault: RequestFault): number {
    const id = this.nextId++;
    this.rules.push({ id, fault, re: pathPattern(fault.path), seen: 0, hits: 0 });
    return id;
  }

  remove(id: number): void {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i >= 0) this.rules.splice(i, 1);
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** Counts the request against every matching rule and says which faults hit it. */
  check(method: string, path: string): FaultHits {
    const hits: FaultHits = { delayMs: 0, labels: [] };
    for (const rule of this.rules) {
      const f = rule.fault;
      if ((f.method && f.method !== method) || !rule.re.test(path)) continue;
      rule.seen++;
      const limit = f.times ?? (f.nth === undefined ? Infinity : 1);
      if (rule.seen < (f.nth ?? 1) || rule.hits >= limit) continue;
      rule.hits++;
      hits.labels.push(`${rule.id}:${f.kind}`);
      if (f.kind === 'delay') hits.delayMs += f.seconds * 1000;
      else if ((f.phase ?? 'before') === 'before') hits.before ??= f;
      else hits.after ??= f;
    }
    return hits;
  }
}
