import { createRequire } from 'node:module';
import type * as Winston from 'winston';
import { redact } from './secrets.js';

type LogMethod = (message: string, meta?: Record<string, unknown>) => unknown;

/**
 * What pvepower logs through: winston in the daemon (createLogger), a plain stderr writer in
 * one-shot commands (plainLogger), nothing in library code used without one (silentLogger).
 */
export interface Logger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  verbose: LogMethod;
  debug: LogMethod;
  log(level: string, message: string, meta?: Record<string, unknown>): unknown;
}

export interface LoggerOptions {
  level?: string;
  /** `journald`: `<prio>message key=value` lines that systemd-journald maps to priorities. */
  format?: 'journald' | 'text' | 'json';
  /** Where lines go; defaults to stderr so stdout stays free for command output. */
  stream?: NodeJS.WritableStream;
}

// syslog priorities understood by journald's `<N>` line prefix (sd-daemon(3)).
const PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, verbose: 7, debug: 7 };
const SEVERITY: Record<string, number> = { error: 0, warn: 1, info: 2, verbose: 4, debug: 5 };

function fields(meta: Record<string | symbol, unknown>): string {
  return Object.entries(meta)
    .filter(([k]) => typeof k === 'string' && k !== 'level' && k !== 'message' && k !== 'timestamp')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** One text line, as both loggers write it; secrets are redacted last, over the whole line. */
function textLine(kind: 'journald' | 'text', level: string, message: string, meta: Record<string | symbol, unknown>): string {
  const rest = fields(meta);
  const text = `${message}${rest ? ' ' + rest : ''}`;
  return redact(kind === 'journald' ? `<${PRIORITY[level] ?? 6}>${text}` : `${new Date().toISOString()} ${level} ${text}`);
}

/** The daemon's logger. winston loads only here: one-shot commands such as `watch` stay small. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const winston = createRequire(import.meta.url)('winston') as typeof Winston;
  const kind = opts.format ?? (process.env.JOURNAL_STREAM ? 'journald' : 'text');
  const redactAll = winston.format((info) => {
    info.message = redact(String(info.message));
    for (const key of Object.keys(info)) {
      const v = info[key];
      if (typeof v === 'string') info[key] = redact(v);
    }
    return info;
  });
  const line =
    kind === 'json' ? winston.format.json() : winston.format.printf((info) => textLine(kind, info.level, String(info.message), info));
  return winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(redactAll(), line),
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stderr })],
  });
}

/** Text lines to stderr (or `stream`) at `level` and above, without winston. */
export function plainLogger(opts: { level?: string; stream?: NodeJS.WritableStream } = {}): Logger {
  const threshold = SEVERITY[opts.level ?? 'info'] ?? SEVERITY.info!;
  const stream = opts.stream ?? process.stderr;
  const log = (level: string, message: string, meta: Record<string, unknown> = {}) => {
    if ((SEVERITY[level] ?? SEVERITY.info!) <= threshold) stream.write(textLine('text', level, message, meta) + '\n');
  };
  return {
    log,
    error: (m, meta) => log('error', m, meta),
    warn: (m, meta) => log('warn', m, meta),
    info: (m, meta) => log('info', m, meta),
    verbose: (m, meta) => log('verbose', m, meta),
    debug: (m, meta) => log('debug', m, meta),
  };
}

/** A logger that drops everything, for library code used without one. */
export function silentLogger(): Logger {
  const drop = () => undefined;
  return { log: drop, error: drop, warn: drop, info: drop, verbose: drop, debug: drop };
}
