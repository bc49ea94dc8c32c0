import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ARCHIVE_DIR, JOURNAL_FILE, Journal, outageOpen, type JournalBody } from '../../src/executor/journal.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../host/recorder.js';

const guestIntent = (vmid: number, group = 1): JournalBody => ({
  op: 'guest-action',
  phase: 'intent',
  vmid,
  node: 'pve2',
  type: 'qemu',
  name: `guest${vmid}`,
  stage: 'shutdown',
  group,
  final: true,
  action: 'shutdown',
  ha: vmid === 102,
  ...(vmid === 102 ? { haPrev: 'started' } : {}),
  restart: false,
  deadline: 60_000,
});

/** An outage up to the first node shutdown, as the executor would have written it. */
const OUTAGE: JournalBody[] = [
  { op: 'outage', phase: 'info', planId: 'abc', self: 'pve1' },
  { op: 'stage', phase: 'intent', stage: 'shutdown', final: true },
  { op: 'group', phase: 'intent', stage: 'shutdown', group: 1 },
  guestIntent(101),
  { op: 'guest-action', phase: 'done', vmid: 101, upid: 'UPID:pve2:1' },
  guestIntent(102),
  { op: 'guest-action', phase: 'done', vmid: 102, upid: 'UPID:pve2:2' },
  { op: 'guest-stopped', phase: 'done', vmid: 101 },
  { op: 'guest-escalate', phase: 'intent', vmid: 102, how: 'ha-stop', until: 90_000 },
  { op: 'guest-escalate', phase: 'done', vmid: 102, upid: 'UPID:pve2:3' },
  { op: 'guest-stopped', phase: 'done', vmid: 102 },
  { op: 'group', phase: 'done', stage: 'shutdown', group: 1 },
  { op: 'ceph-set', phase: 'intent', flags: ['norebalance'], already: ['noout'] },
  { op: 'ceph-set', phase: 'done' },
  { op: 'ha-disarm', phase: 'intent', mode: 'freeze' },
  { op: 'ha-disarm', phase: 'done', mode: 'freeze' },
  { op: 'node-shutdown', phase: 'intent', node: 'pve2' },
];

function write(dir: string, bodies: JournalBody[]): Journal {
  const journal = Journal.open({ dir, clock: new ManualClock() });
  for (const body of bodies) journal.append(body);
  return journal;
}

describe('journal', () => {
  it('replays to the same state after a restart', () => {
    const dir = tempDir();
    const written = write(dir, OUTAGE);
    written.release();
    const state = Journal.open({ dir, clock: new ManualClock() }).state;

    assert.equal(state.planId, 'abc');
    assert.equal(outageOpen(state), true);
    assert.deepEqual(state.stages.get('shutdown')?.groupsDone, new Set([1]));
    assert.equal(state.stages.get('shutdown')?.status, 'running');
    assert.deepEqual(
      [...state.guests.values()].map((g) => [g.vmid, g.sent, g.stopped, g.haPrev, g.escalation?.how]),
      [[101, true, true, undefined, undefined], [102, true, true, 'started', 'ha-stop']],
    );
    assert.deepEqual(state.ceph, { set: ['norebalance'], already: ['noout'], unset: false });
    assert.equal(state.haDisarmed, true);
    assert.deepEqual(state.nodesSent, ['pve2']);
    assert.equal(state.pointOfNoReturn, true);
    assert.deepEqual(state, written.state);
  });

  it('writes one JSON object per line with version, sequence and clock time', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const journal = Journal.open({ dir, clock });
    journal.append(OUTAGE[0]!);
    await clock.advance(1500);
    journal.append(OUTAGE[1]!);
    const lines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').split('\n');
    assert.equal(lines.at(-1), '');
    const recs = lines.slice(0, -1).map((l) => JSON.parse(l) as { v: number; seq: number; at: number; op: string });
    assert.deepEqual(recs.map((r) => [r.v, r.seq, r.at - recs[0]!.at, r.op]), [[1, 1, 0, 'outage'], [1, 2, 1500, 'stage']]);
  });

  it('drops a torn last line (crash mid-write) and appends cleanly after it', () => {
    const dir = tempDir();
    write(dir, OUTAGE.slice(0, 4)).release();
    appendFileSync(join(dir, JOURNAL_FILE), '{"v":1,"seq":5,"at":1,"op":"guest-act');

    const journal = Journal.open({ dir, clock: new ManualClock() });
    assert.equal(journal.entries().length, 4);
    assert.equal(journal.state.guests.get(101)?.sent, false);
    journal.append(OUTAGE[4]!);
    journal.release();

    const reopened = Journal.open({ dir, clock: new ManualClock() });
    assert.deepEqual(reopened.entries().map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.equal(reopened.state.guests.get(101)?.sent, true);
    for (const line of readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n')) JSON.parse(line);
  });

  it('keeps a complete last record whose newline was lost, and skips an unreadable line elsewhere', () => {
    const dir = tempDir();
    const path = join(dir, JOURNAL_FILE);
    const rec = (seq: number, body: JournalBody) => JSON.stringify({ v: 1, seq, at: 0, ...body });
    writeFileSync(path, `${rec(1, OUTAGE[0]!)}\nnot json\n${rec(2, OUTAGE[1]!)}\n${rec(3, { op: 'node-shutdown', phase: 'intent', node: 'pve3' })}`);

    const journal = Journal.open({ dir, clock: new ManualClock() });
    assert.deepEqual(journal.entries().map((r) => r.op), ['outage', 'stage', 'node-shutdown']);
    assert.deepEqual(journal.state.nodesSent, ['pve3']);
    journal.append({ op: 'killpower', phase: 'intent' });
    assert.equal(readFileSync(path, 'utf8').split('\n').filter((l) => l.startsWith('{')).length, 4);
  });

  it('archives a closed outage and starts empty; a closed journal left behind is archived on open', () => {
    const dir = tempDir();
    const journal = write(dir, OUTAGE.slice(0, 2));
    const archive = journal.close();
    assert.ok(archive.startsWith(join(dir, ARCHIVE_DIR, 'outage-')));
    assert.deepEqual(JSON.parse(readFileSync(archive, 'utf8').trim().split('\n').at(-1)!).op, 'closed');
    assert.equal(journal.entries().length, 0);
    assert.equal(outageOpen(journal.state), false);
    assert.equal(readFileSync(join(dir, JOURNAL_FILE), 'utf8'), '');

    // Crash between the `closed` record and the rename.
    journal.append(OUTAGE[0]!);
    journal.append({ op: 'closed', phase: 'info' });
    journal.release();
    const reopened = Journal.open({ dir, clock: new ManualClock() });
    assert.equal(reopened.entries().length, 0);
    assert.equal(readdirSync(join(dir, ARCHIVE_DIR)).length, 2);
  });

  it('keeps only the newest archives', async () => {
    const dir = tempDir();
    const clock = new ManualClock();
    const journal = Journal.open({ dir, clock, keepArchives: 2 });
    for (let i = 0; i < 4; i++) {
      journal.append(OUTAGE[0]!);
      journal.close();
      await clock.advance(60_000);
    }
    const names = readdirSync(join(dir, ARCHIVE_DIR)).sort();
    assert.equal(names.length, 2);
    assert.match(names[0]!, /T12-02-00/);
    assert.match(names[1]!, /T12-03-00/);
  });

  it('a recovery starts a new round: stage progress and host steps reset, guest records kept', () => {
    const dir = tempDir();
    const journal = write(dir, [...OUTAGE, { op: 'killpower', phase: 'intent' }, { op: 'host-shutdown', phase: 'intent', bootId: 'b1' }]);
    journal.append({ op: 'recovery', phase: 'intent', hostsWentDown: true });
    const state = journal.state;
    assert.deepEqual([state.stages.size, state.nodesSent, state.killpower, state.hostShutdown, state.pointOfNoReturn], [0, [], 'none', undefined, false]);
    assert.equal(state.guests.size, 2);
    assert.equal(state.recovery, 'running');
    assert.deepEqual([state.round, state.hostsDownRounds], [2, [1]]);
    journal.append({ op: 'recovery', phase: 'failed', hostsWentDown: true, error: 'aborted' });
    journal.append({ op: 'stage', phase: 'intent', stage: 'shed', final: false });
    assert.equal(journal.state.recovery, undefined);
  });
});
