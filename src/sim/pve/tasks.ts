import type { Clock } from '../../core/clock.js';
import { hex8 } from './auth.js';
import { TaskFailure } from './errors.js';

/**
 * Worker tasks with PVE's UPIDs (pve-common PVE::Tools upid_encode):
 * `UPID:node:PID:PSTART:STARTTIME:type:id:user:` in uppercase hex, trailing colon included.
 */
export interface Upid {
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

export function encodeUpid(u: Upid): string {
  return `UPID:${u.node}:${hex8(u.pid)}:${hex8(u.pstart)}:${hex8(u.starttime)}:${u.type}:${u.id}:${u.user}:`;
}

const UPID_RE =
  /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

export function decodeUpid(text: string): Upid | undefined {
  const m = UPID_RE.exec(text);
  if (!m) return undefined;
  return {
    node: m[1]!,
    pid: parseInt(m[3]!, 16),
    pstart: parseInt(m[4]!, 16),
    starttime: parseInt(m[5]!, 16),
    type: m[6]!,
    id: m[7]!,
    user: m[8]!,
  };
}

export interface Task extends Upid {
  upid: string;
  status: 'running' | 'stopped';
  /** When stopped: `OK`, `WARNINGS: n`, or the error. */
  exitstatus?: string;
  endtime?: number;
  log: string[];
}

/** What a worker function gets: its UPID, an abort signal (task stop), and PVE's warn(). */
export interface TaskContext {
  readonly upid: string;
  readonly signal: AbortSignal;
  warn(message: string): void;
  log(message: string): void;
}

export type Worker = (ctx: TaskContext) => Promise<void>;

interface Entry {
  task: Task;
  abort: AbortController;
  warnings: number;
  done: Promise<Task>;
  finish: (exitstatus: string) => void;
}

/** Linux reports process start in clock ticks since boot (USER_HZ 100). */
const TICKS_PER_SECOND = 100;

export class TaskRegistry {
  private readonly entries = new Map<string, Entry>();
  private nextPid = 0x1f40;

  constructor(
    private readonly clock: Clock,
    /** When the node last booted (ms), for the UPID's pstart. */
    private readonly bootedAt: (node: string) => number,
  ) {}

  start(node: string, type: string, id: string, user: string, worker: Worker): Task {
    const now = this.clock.now();
    const upid: Upid = {
      node,
      pid: this.nextPid++,
      pstart: Math.max(0, Math.floor(((now - this.bootedAt(node)) / 1000) * TICKS_PER_SECOND)),
      starttime: Math.floor(now / 1000),
      type,
      id,
      user,
    };
    const task: Task = { ...upid, upid: encodeUpid(upid), status: 'running', log: [] };
    const abort = new AbortController();
    let finish!: (exitstatus: string) => void;
    const done = new Promise<Task>((resolve) => {
      finish = (exitstatus) => {
        if (task.status === 'stopped') return;
        task.status = 'stopped';
        task.exitstatus = exitstatus;
        task.endtime = Math.floor(this.clock.now() / 1000);
        task.log.push(exitstatus === 'OK' || exitstatus.startsWith('WARNINGS') ? `TASK ${exitstatus}` : `TASK ERROR: ${exitstatus}`);
        resolve(task);
      };
    });
    const entry: Entry = { task, abort, warnings: 0, done, finish };
    this.entries.set(task.upid, entry);
    const ctx: TaskContext = {
      upid: task.upid,
      signal: abort.signal,
      warn: (message) => {
        entry.warnings++;
        task.log.push(`WARN: ${message}`);
      },
      log: (message) => void task.log.push(message),
    };
    // Workers run after the API call has returned the UPID, as with fork_worker.
    this.clock.setTimeout(() => {
      worker(ctx).then(
        () => finish(entry.warnings > 0 ? `WARNINGS: ${entry.warnings}` : 'OK'),
        (err: unknown) => finish(err instanceof TaskFailure || err instanceof Error ? err.message.replace(/\n$/, '') : String(err)),
      );
    }, 0);
    return task;
  }

  get(upid: string): Task | undefined {
    return this.entries.get(upid)?.task;
  }

  whenDone(upid: string): Promise<Task> {
    const entry = this.entries.get(upid);
    if (!entry) return Promise.reject(new Error(`no task ${upid}`));
    return entry.done;
  }

  /** Running tasks that match, e.g. every qmshutdown of VM 100. */
  running(match: (t: Task) => boolean): Task[] {
    return [...this.entries.values()].map((e) => e.task).filter((t) => t.status === 'running' && match(t));
  }

  /** Ends a task as a signal would (overrule-shutdown, DELETE task). */
  abort(upid: string, exitstatus = 'interrupted by signal'): void {
    const entry = this.entries.get(upid);
    if (!entry || entry.task.status !== 'running') return;
    entry.finish(exitstatus);
    entry.abort.abort(new TaskFailure(exitstatus));
  }

  /** A node lost power: its running tasks end as PVE reports a vanished worker. */
  abortNode(node: string): void {
    for (const t of this.running((task) => task.node === node)) this.abort(t.upid, 'unexpected status');
  }

  all(): Task[] {
    return [...this.entries.values()].map((e) => e.task);
  }
}
