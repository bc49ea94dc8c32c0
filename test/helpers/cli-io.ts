import assert from 'node:assert/strict';
import { CliError, EXIT_USAGE, type CliIo } from '../../src/core/cli-io.js';

/** A CliIo that records what a command prints; `announced` resolves with its first stdout write. */
export function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  let announce: (line: string) => void = () => undefined;
  const announced = new Promise<string>((resolve) => (announce = resolve));
  const io: CliIo = {
    out: (text) => {
      out.push(text);
      announce(text);
    },
    err: (text) => void err.push(text),
  };
  return { io, out, err, announced };
}

/** Asserts that `run` fails with a usage error (exit 2) matching `message` before printing anything. */
export async function rejectsUsage(run: (io: CliIo) => Promise<unknown>, message: RegExp): Promise<void> {
  const { io, out } = captureIo();
  const err = await run(io).then(
    () => assert.fail('expected a usage error'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CliError, String(err));
  assert.equal(err.exitCode, EXIT_USAGE);
  assert.match(err.message, message);
  assert.deepEqual(out, [], 'nothing started');
}
