/** What every micro-measurement process shares: options, timing and reporting. */
import { parseArgs } from './args.mjs';

export const microArgs = () => parseArgs();

/** Sends the result to run.mjs (or prints it) and exits. */
export function report(result) {
  const out = { ...result, maxRssMB: process.resourceUsage().maxRSS / 1024 };
  if (process.send) process.send({ type: 'result', result: out }, () => process.exit(0));
  else {
    console.log(JSON.stringify(out, null, 2));
    process.exit(0);
  }
}

export function failOnError() {
  const fail = (e) => {
    console.error(e);
    if (process.send) process.send({ type: 'error', message: String(e?.stack ?? e) }, () => process.exit(1));
    else process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}
