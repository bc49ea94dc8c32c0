/**
 * An API error as pveproxy reports it: the HTTP status, the message (its first line becomes the
 * reason phrase), and for 400 the per-parameter `errors`. `bodyless` errors go out without a
 * JSON body, as pveproxy sends 401s from its auth handler and 595s from its node proxy.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
    readonly bodyless = false,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** PVE's raise_param_exc: 400 `Parameter verification failed.` with per-parameter errors. */
export function paramError(errors: Record<string, string>): ApiError {
  return new ApiError(400, 'Parameter verification failed.\n', errors);
}

/** PVE's raise_perm_exc: 403 `Permission check failed (what)`. */
export function permError(what?: string): ApiError {
  return new ApiError(403, `Permission check failed${what ? ` (${what})` : ''}\n`);
}

/** A handler's `die "...\n"`: 500 with the message. */
export function serverError(message: string): ApiError {
  return new ApiError(500, message.endsWith('\n') ? message : `${message}\n`);
}

/** Thrown inside a task worker: becomes the task's exitstatus. */
export class TaskFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskFailure';
  }
}
