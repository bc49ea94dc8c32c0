/**
 * Runs async tasks one at a time, in call order. A UPS link carries one command at a time:
 * a second command written before the first reply arrives would interleave the replies.
 */
export class TaskQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The next task waits for this one to settle, whatever its outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
