/** What a command writes to and reads from: real stdio in production, buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Exit codes (design.md): 0 ok, 1 runtime failure, 2 usage or config error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error that ends a command with a message and an exit code, no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A numeric flag (commander hands over text): `fallback` when absent, a usage error when invalid. */
export function numberOption(flag: string, value: string | number | undefined, fallback: number, valid: (v: number) => boolean): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || !valid(n)) throw new CliError(`${flag}: invalid value ${JSON.stringify(value)}`, EXIT_USAGE);
  return n;
}
