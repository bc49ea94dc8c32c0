import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UpsModel } from '../../../src/sim/ups/model.js';
import { UpsResponder, type ResponderOptions } from '../../../src/sim/ups/responder.js';
import { mulberry32 } from '../../../src/sim/ups/simulator.js';
import { ManualClock } from '../../helpers/manual-clock.js';

function setup(options: Partial<Omit<ResponderOptions, 'model' | 'clock'>> = {}) {
  const clock = new ManualClock();
  const model = new UpsModel({ clock });
  const responder = new UpsResponder({ model, clock, random: mulberry32(7), ...options });
  const out: string[] = [];
  responder.on('data', (b) => out.push(b.toString('latin1')));
  const write = (text: string) => responder.receive(Buffer.from(text, 'latin1'));
  /** Sends `text` + CR and returns what came back at once. */
  const ask = (text: string) => {
    const before = out.length;
    write(text + '\r');
    return out.slice(before).join('');
  };
  return { clock, model, responder, out, write, ask };
}

const Q1_SHAPE = /^\(\d{3}\.\d \d{3}\.\d \d{3}\.\d \d{3} \d{2}\.\d \d{2}\.\d \d{2}\.\d [01]{8}\r$/;

describe('UpsResponder: framing', () => {
  it('answers Q1 with exactly 46 characters and a CR', () => {
    const { ask } = setup();
    const reply = ask('Q1');
    assert.equal(reply, '(228.0 227.4 228.0 028 50.1 13.6 25.0 00001001\r');
    assert.equal(reply.length, 47);
    assert.match(reply, Q1_SHAPE);
  });

  it('follows the model: on battery the input reads 0 and b7 is set', () => {
    const { model, ask } = setup();
    model.setMains(false);
    const reply = ask('Q1');
    assert.match(reply, Q1_SHAPE);
    assert.match(reply, /^\(000\.0 000\.0 220\.0 028 50\.0 13\.\d 25\.0 10001001\r$/);
  });

  it('answers F and I', () => {
    const { ask } = setup();
    assert.equal(ask('F'), '#220.0 003 12.00 50.0\r');
    const info = ask('I');
    assert.equal(info, '#IPPON           BB 650S    V3.2      \r');
    assert.equal(info.length, 39);
  });

  it('echoes I instead when told to, like the seed unit', () => {
    const { ask } = setup({ echoIdent: true });
    assert.equal(ask('I'), 'I\r');
    assert.match(ask('Q1'), Q1_SHAPE);
  });

  it('echoes unknown commands (the Megatec rule)', () => {
    const { ask } = setup();
    assert.equal(ask('QGS'), 'QGS\r');
    assert.equal(ask('FW?'), 'FW?\r');
  });

  it('stays silent after S, T, TL, CT, C and Q', () => {
    const { ask, model } = setup();
    for (const command of ['Q', 'T', 'CT', 'TL', 'CT', 'C', 'S.5R0003', 'C', 'T05', 'CT']) {
      assert.equal(ask(command), '', command);
    }
    assert.equal(model.log.received().length, 10);
  });

  it('reassembles commands split across writes and splits several in one write', () => {
    const { write, out } = setup();
    write('Q');
    assert.equal(out.length, 0);
    write('1\rF\rI');
    assert.equal(out.length, 2);
    write('\r');
    assert.equal(out.length, 3);
    assert.match(out[0]!, Q1_SHAPE);
    assert.ok(out[1]!.startsWith('#220.0'));
    assert.ok(out[2]!.startsWith('#IPPON'));
  });

  it('ignores USB NUL padding between commands', () => {
    const { write, out } = setup();
    write('Q1\r\0\0\0\0\0F\r\0\0\0\0\0\0');
    assert.equal(out.length, 2);
    assert.ok(out[1]!.startsWith('#220.0'));
  });

  it('discards a runaway line without CR', () => {
    const { write, ask, model } = setup();
    write('x'.repeat(600));
    assert.match(model.log.received().at(-1)!.note!, /discarded: 600 bytes/);
    assert.match(ask('Q1'), Q1_SHAPE);
  });
});

describe('UpsResponder: faults', () => {
  it('comm loss: no reply and the command never reaches the UPS', () => {
    const { responder, ask, model } = setup();
    responder.setComm({ on: true });
    assert.equal(ask('Q1'), '');
    assert.equal(ask('S.5R0003'), '');
    assert.equal(model.snapshot().shutdown, null);
    assert.equal(model.log.received().at(-1)!.note, 'dropped: comm lost');
    assert.equal(model.snapshot().mains, true, 'the UPS stays on line while faulting');
    responder.setComm({ on: false });
    assert.match(ask('Q1'), Q1_SHAPE);
  });

  it('comm loss for a count of commands, then back', () => {
    const { responder, ask } = setup();
    responder.setComm({ count: 2 });
    assert.equal(ask('Q1'), '');
    assert.equal(ask('Q1'), '');
    assert.match(ask('Q1'), Q1_SHAPE);
    assert.deepEqual(responder.faults().comm, { mode: 'count', remaining: 0 });
  });

  it('garbage: random bytes of the same length, still one CR at the end', () => {
    const { responder, ask } = setup();
    responder.setGarbage({ on: true });
    const reply = ask('Q1');
    assert.equal(reply.length, 47);
    assert.equal(reply.indexOf('\r'), 46);
    assert.doesNotMatch(reply, Q1_SHAPE);
  });

  it('garbage: wrong prefix', () => {
    const { responder, ask } = setup();
    responder.setGarbage({ on: true }, 'prefix');
    assert.equal(ask('Q1'), '#228.0 227.4 228.0 028 50.1 13.6 25.0 00001001\r');
    assert.equal(ask('F'), '(220.0 003 12.00 50.0\r');
  });

  it('garbage on every third reply', () => {
    const { responder, ask } = setup();
    responder.setGarbage({ every: 3 });
    const replies = Array.from({ length: 6 }, () => Q1_SHAPE.test(ask('Q1')));
    assert.deepEqual(replies, [true, true, false, true, true, false]);
  });

  it('partial: the first half, no CR', () => {
    const { responder, ask } = setup();
    responder.setPartial({ count: 1 });
    assert.equal(ask('Q1'), '(228.0 227.4 228.0 028 ');
    assert.match(ask('Q1'), Q1_SHAPE);
  });

  it('slow: the reply leaves only after the delay on the clock', async () => {
    const { responder, write, out, clock } = setup();
    responder.setSlow(1500);
    write('Q1\r');
    await clock.advance(1499);
    assert.equal(out.length, 0);
    await clock.advance(1);
    assert.equal(out.length, 1);
    assert.match(out[0]!, Q1_SHAPE);
    responder.setSlow(0);
    write('Q1\r');
    assert.equal(out.length, 2);
  });

  it('dispose drops replies still waiting', async () => {
    const { responder, write, out, clock } = setup();
    responder.setSlow(500);
    write('Q1\r');
    responder.dispose();
    await clock.advance(1000);
    assert.equal(out.length, 0);
  });

  it('echo: all commands, including those that get no reply', () => {
    const { responder, ask, model } = setup();
    responder.setEcho({ on: true });
    assert.equal(ask('Q1'), 'Q1\r');
    assert.equal(ask('S.5R0003'), 'S.5R0003\r');
    assert.equal(model.snapshot().shutdown?.phase, 'countdown', 'the UPS still acted on it');
  });

  it('echo: only the listed commands', () => {
    const { responder, ask } = setup();
    responder.setEcho({ on: true }, ['F']);
    assert.equal(ask('F'), 'F\r');
    assert.match(ask('Q1'), Q1_SHAPE);
  });

  it('reports and logs the fault settings', () => {
    const { responder, model } = setup();
    responder.setSlow(250, { count: 2 });
    responder.setGarbage({ every: 4 }, 'prefix');
    const faults = responder.faults();
    assert.deepEqual(faults.slow, { mode: 'count', remaining: 2, ms: 250 });
    assert.deepEqual(faults.garbage, { mode: 'every', every: 4, seen: 0, kind: 'prefix' });
    assert.deepEqual(faults.comm, { mode: 'off' });
    assert.deepEqual(model.log.events(), ['FAULT slow count=2 ms=250', 'FAULT garbage every=4 kind=prefix']);
  });

  it('rejects ambiguous or invalid fault settings', () => {
    const { responder } = setup();
    assert.throws(() => responder.setComm({ on: true, count: 2 }), RangeError);
    assert.throws(() => responder.setComm({}), RangeError);
    assert.throws(() => responder.setGarbage({ every: 0 }), RangeError);
    assert.throws(() => responder.setPartial({ count: 1.5 }), RangeError);
    assert.throws(() => responder.setSlow(-1), RangeError);
  });
});
