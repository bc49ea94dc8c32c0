import { ScaledClock, type Clock } from '../../core/clock.js';
import { UpsSimController } from './control.js';
import { UpsModel, type UpsModelOptions } from './model.js';
import { UpsResponder } from './responder.js';
import { SimTransport } from './transport.js';

export interface UpsSimOptions extends Omit<UpsModelOptions, 'clock'> {
  /** The clock to run on; default a ScaledClock at `scale`. */
  clock?: Clock;
  /** Time scale when no clock is given (10: a 30 s delay takes 3 s). Default 1. */
  scale?: number;
  /** Echo `I` instead of answering it (the seed's unit). */
  echoIdent?: boolean;
  /** Seed for the garbage-reply bytes, so a run repeats. Default: random. */
  seed?: number;
}

/** A complete simulated UPS without any I/O: model, wire responder and control handler. */
export interface UpsSim {
  readonly clock: Clock;
  readonly model: UpsModel;
  readonly responder: UpsResponder;
  readonly controller: UpsSimController;
  /** A new in-process Transport onto this UPS (for `drill --sim` and tests). */
  transport(): SimTransport;
  /** Stops every timer of the simulated UPS. */
  dispose(): void;
}

export function createUpsSim(options: UpsSimOptions = {}): UpsSim {
  const { clock: givenClock, scale, echoIdent, seed, ...modelOptions } = options;
  const clock = givenClock ?? new ScaledClock(scale ?? 1);
  const model = new UpsModel({ ...modelOptions, clock });
  const responder = new UpsResponder({
    model,
    clock,
    echoIdent,
    random: mulberry32(seed ?? Math.floor(Math.random() * 2 ** 32)),
  });
  const controller = new UpsSimController({ clock, model, responder });
  return {
    clock,
    model,
    responder,
    controller,
    transport: () => new SimTransport(responder, clock),
    dispose() {
      controller.dispose();
      responder.dispose();
      model.dispose();
    },
  };
}

/** A small seeded PRNG (mulberry32): enough to make garbage bytes repeatable. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
