import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system temp dir, removed when the test process exits. */
export function tempDir(prefix = 'pvepower-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * A shell script that appends one line per run to `log`: its arguments, then `|` and what it
 * read on stdin (newlines as spaces), then — when `watch` is given — `|` and the content of that
 * file at the moment it ran (or MISSING). It exits with `exitCode`.
 */
export function recordingScript(dir: string, name: string, opts: { watch?: string; exitCode?: number; stderr?: string } = {}) {
  const path = join(dir, name);
  const log = join(dir, `${name}.log`);
  const watch = opts.watch
    ? `seen=$(cat '${opts.watch}' 2>/dev/null || printf MISSING); printf '|%s' "$seen" >> '${log}'`
    : ':';
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `printf '%s' "$*" >> '${log}'`,
      `input=$(tr '\\n' ' '); printf '|%s' "$input" >> '${log}'`,
      watch,
      `printf '\\n' >> '${log}'`,
      opts.stderr ? `printf '%s\\n' '${opts.stderr}' >&2` : ':',
      `exit ${opts.exitCode ?? 0}`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return {
    path,
    /** One entry per run, split into [args, stdin, watched?]. */
    runs(): string[][] {
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('|'));
    },
  };
}
