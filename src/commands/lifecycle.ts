/**
 * Runs until SIGINT/SIGTERM or, when `durationSec` > 0, until that many
 * seconds have passed; then awaits `stop` once.
 */
export function runUntilStopped(durationSec: number, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const finish = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      void stop().finally(resolve);
    };
    const timer = durationSec > 0 ? setTimeout(finish, durationSec * 1000) : undefined;
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
  });
}
