/** Megatec framing shared by the transports: a command and its reply each end in CR. */
export const CR = 0x0d;

/** Reply timeout when the caller gives none: NUT's SER_WAIT_SEC, also its USB read timeout. */
export const DEFAULT_REPLY_TIMEOUT_MS = 1000;

/** Rejects a command the UPS could never answer: Megatec commands end in CR. */
export function assertCommand(command: string): void {
  if (!command.endsWith('\r')) throw new TypeError(`a Megatec command must end in CR, got ${JSON.stringify(command)}`);
}

/** A command for messages: `Q1\r` → `Q1`. */
export function printable(command: string): string {
  return command.replace(/\r$/, '');
}

/** The reply text before the first CR, or undefined while no CR has arrived. */
export function replyBeforeCr(received: Buffer): string | undefined {
  const end = received.indexOf(CR);
  return end < 0 ? undefined : received.subarray(0, end).toString('latin1');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
