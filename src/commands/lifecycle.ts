/**
 * Longest a shutdown may take, ms: well inside Kubernetes' default 30 s grace
 * period, and within the 10 s an operator waits for Ctrl-C.
 */
export const SHUTDOWN_DEADLINE_MS = 8_000;

/** One part of the process to stop, named for the message when it does not. */
export interface StopStep {
  what: string;
  stop: () => Promise<void>;
}

export interface LifecycleOptions {
  /** Deadline of the whole shutdown, ms. Default `SHUTDOWN_DEADLINE_MS`. */
  deadlineMs?: number;
  /** Ends the process when the deadline passes or a second signal comes. Default `process.exit`. */
  exit?: (code: number) => void;
  /** Where the line naming what did not stop goes. Default stderr. */
  write?: (line: string) => void;
  /**
   * Aborted first when stopping: every component started with its signal
   * begins to stop at once, and the steps then wait for each in order.
   * Default: none.
   */
  controller?: AbortController;
}

/**
 * Runs until SIGINT/SIGTERM or, when `durationSec` > 0, until that many
 * seconds have passed; then aborts `opts.controller` and stops each step in
 * order, once. A shutdown that
 * has not finished within the deadline, or a second signal, ends the process
 * with exit code 1 and one line naming the step that did not stop.
 */
export function runUntilStopped(durationSec: number, steps: StopStep[] | (() => Promise<void>), opts: LifecycleOptions = {}): Promise<void> {
  const list: StopStep[] = typeof steps === 'function' ? [{ what: 'the service', stop: steps }] : steps;
  const deadlineMs = opts.deadlineMs ?? SHUTDOWN_DEADLINE_MS;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  return new Promise((resolve) => {
    let stopping = false;
    let pending = list[0]?.what ?? 'nothing';
    let deadline: NodeJS.Timeout | undefined;
    const giveUp = (why: string) => {
      write(`hubble-ipam-exporter: ${why}: ${pending} did not stop; exiting anyway`);
      exit(1);
    };
    const onSignal = () => {
      if (stopping) giveUp('second signal during shutdown');
      else finish();
    };
    const finish = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      deadline = setTimeout(() => giveUp(`shutdown did not finish within ${deadlineMs / 1000} s`), deadlineMs);
      deadline.unref();
      void (async () => {
        opts.controller?.abort();
        for (const step of list) {
          pending = step.what;
          try {
            await step.stop();
          } catch (e) {
            write(`hubble-ipam-exporter: stopping ${step.what} failed: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        clearTimeout(deadline);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve();
      })();
    };
    const timer = durationSec > 0 ? setTimeout(finish, durationSec * 1000) : undefined;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
