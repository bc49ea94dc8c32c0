import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { Fault, type FaultSpec, type FaultStatus } from './faults.js';
import type { UpsModel } from './model.js';
import { commandText, formatInfo, formatRating, formatStatus, type UpsCommand } from './protocol.js';

export type GarbageKind = 'random' | 'prefix';

export interface ResponderOptions {
  model: UpsModel;
  clock: Clock;
  /** Echo `I` instead of answering it, as the seed's Ippon does (NUT then shows `Q1 0.07`). */
  echoIdent?: boolean;
  /** Random source in [0, 1) for garbage bytes; pass a seeded one for repeatable runs. */
  random?: () => number;
}

export interface FaultsState {
  comm: FaultStatus;
  garbage: FaultStatus & { kind: GarbageKind };
  partial: FaultStatus;
  slow: FaultStatus & { ms: number };
  echo: FaultStatus & { commands: string[] | 'all' };
}

const CR = 0x0d;
// A real UPS's input buffer is tiny; noise without a CR must not grow ours without end.
const MAX_PENDING_INPUT = 512;

/**
 * Bytes in, bytes out: splits what the client wrote at CR, hands each command to the model, and
 * answers Q1/F/I, echoes what the UPS does not know (the Megatec rule) and stays silent after
 * S/T/TL/CT/C/Q. Injected faults sit between the model and the wire; they never change the
 * model's power state. Replies go out through the 'data' event.
 */
export class UpsResponder extends EventEmitter<{ data: [Buffer] }> {
  private readonly model: UpsModel;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly comm = new Fault();
  private readonly garbage = new Fault();
  private garbageKind: GarbageKind = 'random';
  private readonly partial = new Fault();
  private readonly slow = new Fault();
  private slowMs = 0;
  private readonly echo = new Fault();
  private echoCommands: ReadonlySet<string> | undefined;
  private readonly timers = new Set<TimerHandle>();
  private input = Buffer.alloc(0);

  constructor(options: ResponderOptions) {
    super();
    this.model = options.model;
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
    if (options.echoIdent) this.setEcho({ on: true }, ['I']);
  }

  /** Bytes the client wrote. */
  receive(chunk: Buffer): void {
    this.input = Buffer.concat([this.input, chunk]);
    let end: number;
    while ((end = this.input.indexOf(CR)) >= 0) {
      const raw = this.input.subarray(0, end + 1);
      this.input = this.input.subarray(end + 1);
      this.handle(raw);
    }
    if (this.input.length > MAX_PENDING_INPUT) {
      this.model.log.rx(this.input, `discarded: ${this.input.length} bytes without CR`);
      this.input = Buffer.alloc(0);
    }
  }

  /** Comm loss: the UPS neither hears nor answers. */
  setComm(spec: FaultSpec): void {
    this.comm.set(spec);
    this.model.log.event(`FAULT comm ${describe(spec)}`);
  }

  setGarbage(spec: FaultSpec, kind: GarbageKind = 'random'): void {
    this.garbage.set(spec);
    this.garbageKind = kind;
    this.model.log.event(`FAULT garbage ${describe(spec)} kind=${kind}`);
  }

  /** Truncated replies: the first half, no CR. */
  setPartial(spec: FaultSpec): void {
    this.partial.set(spec);
    this.model.log.event(`FAULT partial ${describe(spec)}`);
  }

  /** Replies delayed by `ms` of the clock's time; `ms` 0 turns the fault off. */
  setSlow(ms: number, spec: FaultSpec = { on: true }): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`slow ms must be ≥ 0, got ${ms}`);
    this.slow.set(ms === 0 ? { on: false } : spec);
    this.slowMs = ms;
    this.model.log.event(`FAULT slow ${ms === 0 ? 'on=false' : describe(spec)} ms=${ms}`);
  }

  /** Echo commands instead of answering them: all, or only those listed (e.g. ['I']). */
  setEcho(spec: FaultSpec, commands?: readonly string[]): void {
    this.echo.set(spec);
    this.echoCommands = commands ? new Set(commands) : undefined;
    this.model.log.event(`FAULT echo ${describe(spec)} commands=${commands ? commands.join(',') : 'all'}`);
  }

  faults(): FaultsState {
    return {
      comm: this.comm.describe(),
      garbage: { ...this.garbage.describe(), kind: this.garbageKind },
      partial: this.partial.describe(),
      slow: { ...this.slow.describe(), ms: this.slowMs },
      echo: { ...this.echo.describe(), commands: this.echoCommands ? [...this.echoCommands] : 'all' },
    };
  }

  /** Drops replies still waiting to go out (slow fault) and pending input. */
  dispose(): void {
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    this.input = Buffer.alloc(0);
  }

  private handle(raw: Buffer): void {
    if (this.comm.take()) {
      this.model.log.rx(raw, 'dropped: comm lost');
      return;
    }
    const command = this.model.receive(raw);
    const text = commandText(raw);
    const echoed = (this.echoCommands === undefined || this.echoCommands.has(text)) && this.echo.take();
    const reply = echoed ? text : this.answer(command);
    if (reply === undefined) return;
    let out: Buffer = Buffer.from(reply + '\r', 'latin1');
    if (this.garbage.take()) out = this.garble(out);
    if (this.partial.take()) out = out.subarray(0, Math.max(1, Math.floor((out.length - 1) / 2)));
    if (this.slow.take()) {
      const timer = this.clock.setTimeout(() => {
        this.timers.delete(timer);
        this.send(out);
      }, this.slowMs);
      this.timers.add(timer);
    } else {
      this.send(out);
    }
  }

  private answer(command: UpsCommand): string | undefined {
    switch (command.kind) {
      case 'status':
        return formatStatus(this.model.statusFields());
      case 'rating':
        return formatRating(this.model.rating);
      case 'info':
        return formatInfo(this.model.identity);
      case 'unknown':
        return command.text;
      default:
        return undefined; // action commands get no reply
    }
  }

  /** Same length, still CR-terminated: random bytes (never CR), or the wrong first character. */
  private garble(reply: Buffer): Buffer {
    const body = Buffer.from(reply.subarray(0, -1));
    if (this.garbageKind === 'prefix') {
      body[0] = body[0] === 0x28 /* ( */ ? 0x23 /* # */ : 0x28;
    } else {
      for (let i = 0; i < body.length; i++) {
        const b = Math.floor(this.random() * 255);
        body[i] = b >= CR ? b + 1 : b; // 0..254 mapped around CR
      }
    }
    return Buffer.concat([body, Buffer.from([CR])]);
  }

  private send(out: Buffer): void {
    this.model.log.tx(out);
    this.emit('data', out);
  }
}

function describe(spec: FaultSpec): string {
  if (spec.count !== undefined) return `count=${spec.count}`;
  if (spec.every !== undefined) return `every=${spec.every}`;
  return `on=${spec.on}`;
}
