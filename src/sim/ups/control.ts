import { z } from 'zod';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { parseDuration } from '../../core/duration.js';
import type { FaultSpec } from './faults.js';
import { formatLogEntry } from './log.js';
import type { UpsModel } from './model.js';
import type { UpsResponder } from './responder.js';

/**
 * The simulator's control protocol: one JSON request in, one JSON reply out
 * (`{"ok":true,…}` / `{"ok":false,"error":…}`). The same handler serves the control socket and
 * in-process callers. A request may carry an `id`, which the reply repeats.
 */
const faultFields = {
  on: z.boolean().optional(),
  count: z.number().int().min(0).optional(),
  every: z.number().int().min(1).optional(),
};
const percent = z.number().min(0).max(100);

const mutationSchema = z.discriminatedUnion('cmd', [
  z.strictObject({
    cmd: z.literal('mains'),
    on: z.boolean(),
    voltage: z.number().min(0).max(999.9).optional(),
    frequency: z.number().min(0).max(99.9).optional(),
  }),
  z.strictObject({ cmd: z.literal('lb'), mode: z.enum(['on', 'off', 'auto']) }),
  z.strictObject({ cmd: z.literal('load'), percent }),
  z.strictObject({ cmd: z.literal('charge'), percent }),
  z.strictObject({ cmd: z.literal('comm'), state: z.enum(['lost', 'ok']).optional(), ...faultFields }),
  z.strictObject({ cmd: z.literal('garbage'), kind: z.enum(['random', 'prefix']).optional(), ...faultFields }),
  z.strictObject({ cmd: z.literal('partial'), ...faultFields }),
  z.strictObject({
    cmd: z.literal('slow'),
    ms: z.number().min(0),
    count: faultFields.count,
    every: faultFields.every,
  }),
  z.strictObject({ cmd: z.literal('echo'), commands: z.array(z.string().min(1)).min(1).optional(), ...faultFields }),
]);

const requestSchema = z.discriminatedUnion('cmd', [
  ...mutationSchema.options,
  z.strictObject({ cmd: z.literal('log'), since: z.number().int().min(0).optional() }),
  z.strictObject({ cmd: z.literal('state') }),
  z.strictObject({
    cmd: z.literal('script'),
    steps: z.array(z.looseObject({ after: z.union([z.string(), z.number().min(0)]) })).min(1),
  }),
]);

export type MutationRequest = z.infer<typeof mutationSchema>;
export type ControlRequest = z.infer<typeof requestSchema>;
export type ControlReply = ({ ok: true } & Record<string, unknown>) | { ok: false; error: string; id?: unknown };

export interface ControllerTarget {
  clock: Clock;
  model: UpsModel;
  responder: UpsResponder;
}

export class UpsSimController {
  private readonly scripts = new Set<TimerHandle>();

  constructor(private readonly sim: ControllerTarget) {}

  /** Handles one request (already JSON-decoded). Never throws: errors become `ok: false`. */
  handle(request: unknown): ControlReply {
    const id = isRecord(request) ? request.id : undefined;
    const withId = (reply: ControlReply): ControlReply => (id === undefined ? reply : { ...reply, id });
    try {
      const body = isRecord(request) ? withoutId(request) : request;
      const parsed = requestSchema.safeParse(body);
      if (!parsed.success) return withId({ ok: false, error: z.prettifyError(parsed.error) });
      return withId(this.run(parsed.data));
    } catch (err) {
      return withId({ ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Cancels scripts still waiting to run. */
  dispose(): void {
    for (const t of this.scripts) this.sim.clock.clearTimeout(t);
    this.scripts.clear();
  }

  private run(request: ControlRequest): ControlReply {
    switch (request.cmd) {
      case 'state':
        return { ok: true, ...this.state() };
      case 'log': {
        const entries = this.sim.model.log.entries(request.since ?? 0);
        return { ok: true, entries, lines: entries.map(formatLogEntry), last: this.sim.model.log.lastSeq };
      }
      case 'script':
        return this.script(request.steps);
      default:
        this.apply(request);
        return { ok: true, ...this.state() };
    }
  }

  private state(): { state: ReturnType<UpsModel['snapshot']>; faults: ReturnType<UpsResponder['faults']> } {
    return { state: this.sim.model.snapshot(), faults: this.sim.responder.faults() };
  }

  private apply(request: MutationRequest): void {
    const { model, responder } = this.sim;
    switch (request.cmd) {
      case 'mains':
        return model.setMains(request.on, { voltage: request.voltage, frequency: request.frequency });
      case 'lb':
        return model.setLowBatteryMode(request.mode);
      case 'load':
        return model.setLoad(request.percent);
      case 'charge':
        return model.setCharge(request.percent);
      case 'comm': {
        if (request.state !== undefined && request.on !== undefined) throw new RangeError('give state or on, not both');
        const on = request.state === undefined ? request.on : request.state === 'lost';
        return responder.setComm(faultSpec({ ...request, on }));
      }
      case 'garbage':
        return responder.setGarbage(faultSpec(request), request.kind);
      case 'partial':
        return responder.setPartial(faultSpec(request));
      case 'slow':
        return responder.setSlow(request.ms, request.count === undefined && request.every === undefined ? { on: true } : faultSpec(request));
      case 'echo':
        return responder.setEcho(faultSpec(request), request.commands);
    }
  }

  /**
   * Validates every step first, then runs them on the simulator's clock; each step's `after`
   * (`5s`, `2m`, or ms) counts from the previous step.
   */
  private script(steps: ReadonlyArray<{ after: string | number } & Record<string, unknown>>): ControlReply {
    const planned = steps.map(({ after, ...rest }, i) => {
      const parsed = mutationSchema.safeParse(rest);
      if (!parsed.success) throw new RangeError(`steps[${i}]: ${z.prettifyError(parsed.error)}`);
      let delayMs: number;
      try {
        delayMs = typeof after === 'number' ? after : parseDuration(after);
      } catch (err) {
        throw new RangeError(`steps[${i}].after: ${(err as Error).message}`);
      }
      return { delayMs, request: parsed.data };
    });
    const { clock, model } = this.sim;
    const runFrom = (index: number) => {
      const step = planned[index];
      if (!step) return;
      const timer = clock.setTimeout(() => {
        this.scripts.delete(timer);
        model.log.event(`SCRIPT step=${index + 1}/${planned.length} ${JSON.stringify(step.request)}`);
        try {
          this.apply(step.request);
        } catch (err) {
          model.log.event(`SCRIPT step=${index + 1} failed: ${(err as Error).message}`);
        }
        runFrom(index + 1);
      }, step.delayMs);
      this.scripts.add(timer);
    };
    runFrom(0);
    const durationMs = planned.reduce((sum, s) => sum + s.delayMs, 0);
    model.log.event(`SCRIPT scheduled steps=${planned.length} duration=${durationMs / 1000}s`);
    return { ok: true, steps: planned.length, durationMs };
  }
}

function faultSpec(fields: { on?: boolean; count?: number; every?: number }): FaultSpec {
  const spec: FaultSpec = {};
  if (fields.on !== undefined) spec.on = fields.on;
  if (fields.count !== undefined) spec.count = fields.count;
  if (fields.every !== undefined) spec.every = fields.every;
  return spec;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function withoutId(request: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, ...rest } = request;
  return rest;
}
