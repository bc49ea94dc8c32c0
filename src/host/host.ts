import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../core/logger.js';

/**
 * What upsmon writes to its POWERDOWNFLAG (NUT clients/upsmon.c, SDMAGIC). upsmon -K and
 * upsmon's start-up clean-up accept any file whose first line starts with it, so writing exactly
 * these bytes makes the flag valid for NUT's tools and ours alike.
 */
export const KILLPOWER_MAGIC = 'upsmon-shutdown-file';

export const DEFAULT_SHUTDOWN_COMMAND = '/sbin/shutdown -h +0';
export const DEFAULT_WALL_COMMAND = 'wall';
export const DEFAULT_BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** Side effects on the machine pvepower runs on. The executor only talks to this interface. */
export interface HostActions {
  /** Writes the killpower flag atomically; the late-poweroff hook then shuts the UPS down. */
  writeKillpowerFlag(): Promise<void>;
  /** Deletes the flag left from a previous power-fail shutdown, only if it holds the magic. */
  removeStaleKillpowerFlag(): Promise<boolean>;
  /** True when the flag exists and starts with the magic (the `upsmon -K` test). */
  killpowerFlagSet(): Promise<boolean>;
  /** Runs the configured host shutdown command; rejects when it cannot run or exits non-zero. */
  runShutdownCommand(): Promise<void>;
  /** Tells logged-in users (wall) and the log. Never rejects. */
  notify(message: string): Promise<void>;
  /** Identifies this boot, so a restarted daemon can tell a crash from a completed reboot. */
  bootId(): Promise<string | undefined>;
}

export interface SystemHostOptions {
  killpowerFlagPath: string;
  /** A command line, split like a shell would (quotes, backslashes), never run through a shell. */
  shutdownCommand?: string;
  /** Command that receives the message on stdin; '' disables wall. */
  wallCommand?: string;
  bootIdPath?: string;
  /** How long a command may run before it is killed and counted as failed. */
  commandTimeoutMs?: number;
  logger: Logger;
}

export class SystemHost implements HostActions {
  private readonly shutdownArgv: string[];
  private readonly wallArgv: string[] | undefined;
  private readonly bootIdPath: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: SystemHostOptions) {
    this.shutdownArgv = splitCommandLine(opts.shutdownCommand ?? DEFAULT_SHUTDOWN_COMMAND);
    const wall = opts.wallCommand ?? DEFAULT_WALL_COMMAND;
    this.wallArgv = wall.trim() === '' ? undefined : splitCommandLine(wall);
    this.bootIdPath = opts.bootIdPath ?? DEFAULT_BOOT_ID_PATH;
    this.timeoutMs = opts.commandTimeoutMs ?? 60_000;
  }

  async writeKillpowerFlag(): Promise<void> {
    const path = this.opts.killpowerFlagPath;
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    // Write, fsync, rename, fsync the directory: the flag is either absent or complete, even if
    // power is cut right after, and the late-poweroff hook reads it after the root fs went read-only.
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(KILLPOWER_MAGIC);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dirname(path));
    this.opts.logger.warn('killpower flag written', { path });
  }

  async killpowerFlagSet(): Promise<boolean> {
    return (await this.readFlag()) === 'magic';
  }

  async removeStaleKillpowerFlag(): Promise<boolean> {
    const path = this.opts.killpowerFlagPath;
    const flag = await this.readFlag();
    if (flag === 'foreign') {
      // Same rule as upsmon: never delete a file that is not ours (a mistyped path could name anything).
      this.opts.logger.warn('killpower flag path holds something else; leaving it alone', { path });
      return false;
    }
    if (flag === 'absent') return false;
    await unlink(path);
    await fsyncDir(dirname(path));
    this.opts.logger.info('removed the killpower flag of the previous power-fail shutdown', { path });
    return true;
  }

  async runShutdownCommand(): Promise<void> {
    this.opts.logger.warn('running the host shutdown command', { command: this.shutdownArgv.join(' ') });
    await runCommand(this.shutdownArgv, { timeoutMs: this.timeoutMs });
  }

  async notify(message: string): Promise<void> {
    this.opts.logger.warn(message);
    if (!this.wallArgv) return;
    try {
      await runCommand(this.wallArgv, { stdin: `${message}\n`, timeoutMs: this.timeoutMs });
    } catch (err) {
      this.opts.logger.warn('wall failed', { error: errorMessage(err) });
    }
  }

  async bootId(): Promise<string | undefined> {
    try {
      return (await readFile(this.bootIdPath, 'utf8')).trim() || undefined;
    } catch {
      return undefined;
    }
  }

  private async readFlag(): Promise<'absent' | 'magic' | 'foreign'> {
    let text: string;
    try {
      text = await readFile(this.opts.killpowerFlagPath, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
      throw err;
    }
    return text.startsWith(KILLPOWER_MAGIC) ? 'magic' : 'foreign';
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Runs argv without a shell; resolves on exit 0, rejects with the exit status and stderr otherwise. */
export function runCommand(argv: string[], opts: { stdin?: string; timeoutMs: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (!file) return reject(new Error('empty command'));
    const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${file}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = signal ? `killed by ${signal}` : `exit status ${code}`;
      reject(new Error(`${argv.join(' ')}: ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
    child.stdin.on('error', () => {
      // The command may exit without reading stdin; its exit status tells what happened.
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/**
 * Splits a command line the way a POSIX shell tokenises words: whitespace separates, single
 * quotes are literal, double quotes allow \" \\ \$ \` escapes, a backslash outside quotes
 * escapes the next character. No expansion of any kind happens.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError(`unterminated single quote in command: ${line}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && '"\\$`'.includes(line[j + 1] ?? '')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new SyntaxError(`unterminated double quote in command: ${line}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new SyntaxError(`trailing backslash in command: ${line}`);
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new SyntaxError('empty command');
  return words;
}

/** The message of anything thrown, for logs and journal records. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
