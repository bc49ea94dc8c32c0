import winston from 'winston';
import { redact } from './secrets.js';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** `journald`: `<prio>message key=value` lines that systemd-journald maps to priorities. */
  format?: 'journald' | 'text' | 'json';
  /** Where lines go; defaults to stderr so stdout stays free for command output. */
  stream?: NodeJS.WritableStream;
}

// syslog priorities understood by journald's `<N>` line prefix (sd-daemon(3)).
const PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, verbose: 7, debug: 7 };

function fields(meta: Record<string | symbol, unknown>): string {
  return Object.entries(meta)
    .filter(([k]) => typeof k === 'string' && k !== 'level' && k !== 'message' && k !== 'timestamp')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

const redactAll = winston.format((info) => {
  info.message = redact(String(info.message));
  for (const key of Object.keys(info)) {
    const v = info[key];
    if (typeof v === 'string') info[key] = redact(v);
  }
  return info;
});

export function createLogger(opts: LoggerOptions = {}): Logger {
  const kind = opts.format ?? (process.env.JOURNAL_STREAM ? 'journald' : 'text');
  const line =
    kind === 'json'
      ? winston.format.json()
      : winston.format.printf((info) => {
          const rest = fields(info);
          const text = `${info.message}${rest ? ' ' + rest : ''}`;
          return kind === 'journald'
            ? `<${PRIORITY[info.level] ?? 6}>${text}`
            : `${new Date().toISOString()} ${info.level} ${text}`;
        });
  return winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(redactAll(), line),
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stderr })],
  });
}

/** A logger that drops everything, for library code used without one. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
