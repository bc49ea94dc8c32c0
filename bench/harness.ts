import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What the benchmarks share: the registry types, statistics, the build check and child processes. */

export const ROOT = new URL('../', import.meta.url).pathname;

export type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'INFO';

/** One line of the summary table. */
export interface BenchRow {
  metric: string;
  value: string;
  target?: string;
  verdict: Verdict;
}

/** A flag of one bench: node:util parseArgs' option plus a line for --help. */
export interface BenchOption {
  type: 'string' | 'boolean';
  default?: string;
  description: string;
}
export type BenchValues = Record<string, string | boolean | undefined>;

export interface BenchContext {
  /** Parsed flags (every bench's options are parsed together by run.ts). */
  values: BenchValues;
  /** A progress line for the person watching. */
  log(line: string): void;
}

export interface Bench {
  name: string;
  description: string;
  /** Flags this bench understands (names must not clash with another bench's). */
  options?: Record<string, BenchOption>;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** A whole-number flag ≥ min; exits with a usage error otherwise. */
export function intFlag(values: BenchValues, name: string, min: number): number {
  const text = values[name];
  const n = typeof text === 'string' ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

export class UsageError extends Error {}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new RangeError('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, max: sorted.at(-1)! };
}

/** `0.42/0.61/1.02 s` (min/median/max). */
export function formatSpread(s: Spread): string {
  return `${seconds(s.min)}/${seconds(s.median)}/${seconds(s.max)} s`;
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `check` returns a value (polling), or throws `what` after the timeout. */
export async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Every child a bench starts, so a failing or interrupted run leaves none behind: stop() ends one
 * (SIGTERM, then SIGKILL), killAll() is for the exit path.
 */
export class ProcessGroup {
  private readonly children = new Set<ChildProcess>();

  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  async stop(child: ChildProcess, graceMs = 3000): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
  }

  /** Synchronous, for process 'exit' and signals. */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}

export const processes = new ProcessGroup();

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is missing or older than src/: the benches measure the shipped CLI
 * (`node bin/pvepower`), not tsx's on-the-fly compilation.
 */
export function ensureBuilt(log: (line: string) => void): void {
  const entry = join(ROOT, 'dist/cli/main.js');
  const fresh = () => existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(join(ROOT, 'src'));
  if (fresh()) return;
  log('dist/ is missing or older than src/: npm run build');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  // tsc still writes its output when it reports type errors elsewhere in the tree.
  if (!fresh()) throw new Error(`npm run build did not produce a current dist/cli/main.js (exit ${build.status})`);
  if (build.status !== 0) log(`warning: npm run build exited ${build.status}; benchmarking the output it wrote`);
}

/** VmRSS of a live process in bytes. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

let clockTicks: number | undefined;

/** utime + stime of a live process, in ms. */
export function cpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces; the fields after it are fixed: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
