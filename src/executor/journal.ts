import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { errorMessage } from '../host/host.js';
import type { CephFlag, GuestType } from '../pve/types.js';

/**
 * The outage journal: one JSON object per line, appended and fsynced before the action it
 * announces (`intent`) and after its outcome (`done` / `failed`). Replaying it gives the exact
 * state of an outage, for crash-resume and for power-return recovery.
 */
export const JOURNAL_FILE = 'outage.jsonl';
export const ARCHIVE_DIR = 'outages';
export const JOURNAL_VERSION = 1;

/** What pvepower asked of a guest (a plan's `skip` never reaches the journal). */
export type SentAction = 'shutdown' | 'hibernate' | 'stop';
/** `stop`: stop with overrule-shutdown; `ha-stop`: stop through the HA stack (no overrule). */
export type EscalationKind = 'stop' | 'ha-stop';

type Failed<Op extends string, X = unknown> = { op: Op; phase: 'failed'; error: string } & X;
type Step<Op extends string, X = unknown> = ({ op: Op; phase: 'intent' | 'done' } & X) | Failed<Op, X>;

export interface GuestIntent {
  op: 'guest-action';
  phase: 'intent';
  vmid: number;
  node: string;
  type: GuestType;
  name: string;
  stage: string;
  group: number;
  final: boolean;
  action: SentAction;
  ha: boolean;
  /** HA resource state before pvepower's stop request turned it to `stopped`. */
  haPrev?: string;
  restart: boolean;
  /** Clock time after which the guest is escalated. */
  deadline: number;
}

export type JournalBody =
  | { op: 'outage'; phase: 'info'; planId: string; self: string }
  | { op: 'plan'; phase: 'info'; planId: string }
  | Step<'stage', { stage: string; final: boolean }>
  | { op: 'group'; phase: 'intent' | 'done'; stage: string; group: number }
  | GuestIntent
  | { op: 'guest-action'; phase: 'done'; vmid: number; upid: string }
  | Failed<'guest-action', { vmid: number }>
  | { op: 'guest-stopped'; phase: 'done'; vmid: number }
  | { op: 'guest-escalate'; phase: 'intent'; vmid: number; how: EscalationKind; until: number }
  | { op: 'guest-escalate'; phase: 'done'; vmid: number; upid: string }
  | Failed<'guest-escalate', { vmid: number }>
  | { op: 'guest-leave'; phase: 'info'; vmid: number }
  | Failed<'guest-unresolved', { vmid: number }>
  | { op: 'guest-start'; phase: 'intent'; vmid: number; how: 'start' | 'ha-state'; haState?: string }
  | { op: 'guest-start'; phase: 'done'; vmid: number }
  | Failed<'guest-start', { vmid: number }>
  | Step<'ha-disarm', { mode: 'freeze' | 'ignore' }>
  | Step<'ha-arm'>
  | { op: 'ceph-set'; phase: 'intent'; flags: CephFlag[]; already: CephFlag[] }
  | { op: 'ceph-set'; phase: 'done' }
  | Failed<'ceph-set'>
  | Step<'ceph-unset', { flags: CephFlag[] }>
  | Step<'node-shutdown', { node: string }>
  | { op: 'node-shutdown'; phase: 'info'; node: string; skipped: string }
  | Step<'killpower'>
  | { op: 'host-shutdown'; phase: 'intent'; bootId?: string }
  | { op: 'host-shutdown'; phase: 'done' }
  | Failed<'host-shutdown'>
  | Step<'recovery', { hostsWentDown: boolean }>
  /** A new round starts (see applyRecord) because the host rebooted since its shutdown. */
  | { op: 'round'; phase: 'info'; reason: string }
  | { op: 'closed'; phase: 'info' };

export type JournalRecord = JournalBody & { v: number; seq: number; at: number };

/** A guest pvepower acted on: its intent record, plus what happened since. */
export interface GuestState extends Omit<GuestIntent, 'op' | 'phase'> {
  /** When the intent was recorded. */
  requestedAt: number;
  /** The round it was stopped in. */
  round: number;
  /** The action's POST was accepted (a UPID came back). */
  sent: boolean;
  sendError?: string;
  escalation?: { how: EscalationKind; until: number; sent: boolean; error?: string };
  /** Confirmed stopped by guest status. */
  stopped: boolean;
  left: boolean;
  unresolved?: string;
  start?: 'requested' | 'done' | 'failed';
}

export interface StageState {
  name: string;
  final: boolean;
  status: 'running' | 'done' | 'failed';
  error?: string;
  groupsDone: Set<number>;
}

export interface JournalState {
  planId?: string;
  self?: string;
  startedAt?: number;
  /** In the order they started. */
  stages: Map<string, StageState>;
  /** Guests pvepower acted on, by vmid (unique cluster-wide), in the order it acted. */
  guests: Map<number, GuestState>;
  /** Ceph flags pvepower set (from the intent: a crash mid-call still unsets them) and found set. */
  ceph?: { set: CephFlag[]; already: CephFlag[]; unset: boolean };
  haDisarmed: boolean;
  haArmed: boolean;
  /** Nodes a shutdown was (possibly) sent to: intent recorded. Never sent twice. */
  nodesSent: string[];
  killpower: 'none' | 'requested' | 'done' | 'failed';
  hostShutdown?: { bootId?: string; status: 'requested' | 'done' | 'failed' };
  /** Past the first node shutdown (or the killpower flag on a single node): no abort any more. */
  pointOfNoReturn: boolean;
  /** The current round (see applyRecord), from 1. */
  round: number;
  /** Rounds that went past the point of no return: their hosts went down. */
  hostsDownRounds: number[];
  recovery?: 'running' | 'done' | 'failed';
  closed: boolean;
}

function emptyState(): JournalState {
  return {
    stages: new Map(),
    guests: new Map(),
    haDisarmed: false,
    haArmed: false,
    nodesSent: [],
    killpower: 'none',
    pointOfNoReturn: false,
    round: 1,
    hostsDownRounds: [],
    closed: false,
  };
}

/** True while an outage is recorded and not closed: there is something to resume or recover. */
export function outageOpen(state: JournalState): boolean {
  return state.planId !== undefined && !state.closed;
}

/**
 * An outage can have rounds: power fails and pvepower stops guests (maybe the hosts too); then
 * power returns and recovery starts, or the hosts boot again, and power fails once more before
 * recovery finished. A recovery intent or a `round` record ends the round: stage progress, node
 * shutdowns and the killpower/host steps are cleared, while the guest records stay, because
 * recovery still owes those guests a start. A guest started by recovery gets a fresh record when
 * a later round stops it again.
 */
function newRound(state: JournalState): void {
  if (state.pointOfNoReturn) state.hostsDownRounds.push(state.round);
  state.round++;
  state.stages.clear();
  state.nodesSent = [];
  state.killpower = 'none';
  state.hostShutdown = undefined;
  state.pointOfNoReturn = false;
}

/** Folds one record into the state; records of unknown guests or stages are tolerated. */
function applyRecord(state: JournalState, rec: JournalRecord): void {
  const guest = 'vmid' in rec ? state.guests.get(rec.vmid) : undefined;
  switch (rec.op) {
    case 'outage':
      state.planId = rec.planId;
      state.self = rec.self;
      state.startedAt = rec.at;
      break;
    case 'plan':
      state.planId = rec.planId;
      break;
    case 'stage': {
      const stage = state.stages.get(rec.stage);
      if (rec.phase === 'intent') {
        if (stage) stage.status = 'running';
        else state.stages.set(rec.stage, { name: rec.stage, final: rec.final, status: 'running', groupsDone: new Set() });
        // Power failed again during recovery: that recovery is over, a later one starts anew.
        if (state.recovery !== 'done') state.recovery = undefined;
      } else if (stage) {
        stage.status = rec.phase;
        if (rec.phase === 'failed') stage.error = rec.error;
      }
      break;
    }
    case 'group':
      if (rec.phase === 'done') state.stages.get(rec.stage)?.groupsDone.add(rec.group);
      break;
    case 'guest-action':
      if (rec.phase === 'intent') {
        const { op: _op, phase: _phase, v: _v, seq: _seq, at, ...fields } = rec;
        // Re-inserted, so the map keeps the order pvepower acted in across rounds.
        state.guests.delete(rec.vmid);
        state.guests.set(rec.vmid, { ...fields, requestedAt: at, round: state.round, sent: false, stopped: false, left: false });
      } else if (guest && rec.phase === 'done') guest.sent = true;
      else if (guest && rec.phase === 'failed') guest.sendError = rec.error;
      break;
    case 'guest-stopped':
      if (guest) guest.stopped = true;
      break;
    case 'guest-escalate':
      if (!guest) break;
      if (rec.phase === 'intent') guest.escalation = { how: rec.how, until: rec.until, sent: false };
      else if (guest.escalation && rec.phase === 'done') guest.escalation.sent = true;
      else if (guest.escalation && rec.phase === 'failed') guest.escalation.error = rec.error;
      break;
    case 'guest-leave':
      if (guest) guest.left = true;
      break;
    case 'guest-unresolved':
      if (guest) guest.unresolved = rec.error;
      break;
    case 'guest-start':
      if (guest) guest.start = rec.phase === 'intent' ? 'requested' : rec.phase;
      break;
    case 'ha-disarm':
      // From the intent on HA may be disarmed, so recovery arms it again.
      if (rec.phase === 'intent') {
        state.haDisarmed = true;
        state.haArmed = false;
      }
      break;
    case 'ha-arm':
      if (rec.phase === 'done') state.haArmed = true;
      break;
    case 'ceph-set':
      if (rec.phase === 'intent') state.ceph = { set: rec.flags, already: rec.already, unset: false };
      break;
    case 'ceph-unset':
      if (state.ceph && rec.phase === 'done') state.ceph.unset = true;
      break;
    case 'node-shutdown':
      if (rec.phase === 'intent') {
        if (!state.nodesSent.includes(rec.node)) state.nodesSent.push(rec.node);
        state.pointOfNoReturn = true;
      }
      break;
    case 'killpower':
      state.killpower = rec.phase === 'intent' ? 'requested' : rec.phase;
      if (rec.phase === 'intent') state.pointOfNoReturn = true;
      break;
    case 'host-shutdown':
      if (rec.phase === 'intent') {
        state.hostShutdown = { bootId: rec.bootId, status: 'requested' };
        state.pointOfNoReturn = true;
      } else if (state.hostShutdown) state.hostShutdown.status = rec.phase;
      break;
    case 'recovery':
      state.recovery = rec.phase === 'intent' ? 'running' : rec.phase;
      if (rec.phase === 'intent') newRound(state);
      break;
    case 'round':
      newRound(state);
      break;
    case 'closed':
      state.closed = true;
      break;
  }
}

export interface JournalOptions {
  /** The state directory; the journal is `<dir>/outage.jsonl`, archives go to `<dir>/outages/`. */
  dir: string;
  clock: Clock;
  logger?: Logger;
  /** How many closed outage journals to keep. */
  keepArchives?: number;
}

/**
 * The journal file of the current outage. Writes are synchronous (write + fsync on one fd):
 * a record must be on disk before the action it announces starts, and the records are few and
 * small, so blocking for an fsync is the simple way to keep that order.
 */
export class Journal {
  readonly path: string;
  private fd: number;
  private readonly logger: Logger;
  private records: JournalRecord[] = [];
  private current: JournalState = emptyState();

  private constructor(private readonly opts: JournalOptions) {
    this.logger = opts.logger ?? silentLogger();
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    this.path = join(opts.dir, JOURNAL_FILE);
    this.fd = this.load();
  }

  /** Opens (or creates) the journal and replays it. A closed journal left behind is archived. */
  static open(opts: JournalOptions): Journal {
    const journal = new Journal(opts);
    if (journal.current.closed) journal.archive();
    return journal;
  }

  get state(): Readonly<JournalState> {
    return this.current;
  }

  entries(): readonly JournalRecord[] {
    return this.records;
  }

  /**
   * Writes and fsyncs one record, then folds it into the state. A write error (disk full, I/O
   * error) is logged and does not throw: stopping the guests before the battery runs out matters
   * more than the record, so the run goes on with the state kept in memory.
   */
  append(body: JournalBody): JournalRecord {
    const rec = { v: JOURNAL_VERSION, seq: (this.records.at(-1)?.seq ?? 0) + 1, at: this.opts.clock.now(), ...body } as JournalRecord;
    const buf = Buffer.from(JSON.stringify(rec) + '\n', 'utf8');
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
      fsyncSync(this.fd);
    } catch (err) {
      this.logger.error('journal write failed; continuing without it', { path: this.path, op: rec.op, error: errorMessage(err) });
    }
    this.records.push(rec);
    applyRecord(this.current, rec);
    return rec;
  }

  /** Ends the outage: appends `closed`, moves the file to the archive and starts an empty one. */
  close(): string {
    if (!this.current.closed) this.append({ op: 'closed', phase: 'info' });
    return this.archive();
  }

  /** Releases the file descriptor (the daemon exits); the journal stays on disk as it is. */
  release(): void {
    closeSync(this.fd);
  }

  private archive(): string {
    closeSync(this.fd);
    const archiveDir = join(this.opts.dir, ARCHIVE_DIR);
    mkdirSync(archiveDir, { recursive: true, mode: 0o700 });
    const stamp = new Date(this.current.startedAt ?? this.records[0]?.at ?? this.opts.clock.now())
      .toISOString()
      .replace(/[:.]/g, '-');
    let target = join(archiveDir, `outage-${stamp}.jsonl`);
    for (let n = 2; existsSync(target); n++) target = join(archiveDir, `outage-${stamp}-${n}.jsonl`);
    renameSync(this.path, target);
    fsyncDir(archiveDir);
    this.prune(archiveDir);
    this.logger.info('outage journal archived', { path: target });
    this.records = [];
    this.current = emptyState();
    this.fd = this.load();
    return target;
  }

  private prune(archiveDir: string): void {
    const keep = this.opts.keepArchives ?? 50;
    const names = readdirSync(archiveDir)
      .filter((n) => /^outage-.*\.jsonl$/.test(n))
      .sort();
    for (const name of names.slice(0, Math.max(0, names.length - keep))) unlinkSync(join(archiveDir, name));
  }

  /** Reads and replays the file, cuts off a torn last line, and returns an append fd. */
  private load(): number {
    const created = !existsSync(this.path);
    const fd = openSync(this.path, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_APPEND, 0o600);
    if (created) fsyncDir(this.opts.dir);
    const text = readFileSync(fd, 'utf8');
    const lines = text.split('\n');
    // The last element is '' when the file ends in a newline, else the tail a crash cut short.
    const tail = lines.pop() ?? '';
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const rec = parseRecord(line);
      if (rec) this.records.push(rec);
      else this.logger.warn('journal: skipping an unreadable line', { path: this.path, line: i + 1 });
    });
    if (tail !== '') {
      const rec = parseRecord(tail);
      if (rec) {
        // Complete record whose newline was lost: keep it and terminate it.
        this.records.push(rec);
        writeSync(fd, '\n');
      } else {
        this.logger.warn('journal: dropping a torn last line (crash mid-write)', { path: this.path });
        ftruncateSync(fd, Buffer.byteLength(text, 'utf8') - Buffer.byteLength(tail, 'utf8'));
      }
      fsyncSync(fd);
    }
    for (const rec of this.records) applyRecord(this.current, rec);
    return fd;
  }
}

function parseRecord(line: string): JournalRecord | undefined {
  try {
    const rec = JSON.parse(line) as Partial<JournalRecord>;
    if (rec && typeof rec === 'object' && typeof rec.op === 'string' && typeof rec.seq === 'number') {
      return rec as JournalRecord;
    }
  } catch {
    // unreadable: the caller reports it
  }
  return undefined;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
