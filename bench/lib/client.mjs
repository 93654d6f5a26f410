/**
 * What every measured client process shares: its options, its clocks and
 * how it reports back (over IPC to run.mjs, or printed when run by hand).
 */
import { num, parseArgs } from './args.mjs';

export function clientOptions() {
  const args = parseArgs();
  if (!args.address) throw new Error('--address host:port of the bench relay is required');
  return { ...args, address: args.address, flows: num(args.flows, 1_000_000) };
}

/** CPU seconds (user + system, all threads) since `since` (a process.cpuUsage()). */
export function cpuSeconds(since) {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
}

/**
 * Throughput of a stream: `start()` when the first flow arrives, `end()` at
 * the last; flows counted before `start()` do not count.
 */
export class StreamClock {
  constructor() {
    this.cpu0 = process.cpuUsage();
    this.t0 = 0;
    this.flows0 = 0;
  }
  start(flowsSoFar = 1) {
    this.t0 = performance.now();
    this.flows0 = flowsSoFar;
    this.cpuStart = process.cpuUsage();
  }
  /**
   * cpuSeconds: from before the request to the last flow (start-up included);
   * streamCpuSeconds: from the first flow to the last, over streamFlows flows
   * (what each flow costs, whatever the process did to start).
   */
  end(flows) {
    const seconds = (performance.now() - this.t0) / 1000;
    // startMs / endMs: wall clock (ms since the epoch), to add up clients that ran side by side.
    const startMs = performance.timeOrigin + this.t0;
    return { flows, seconds, rate: (flows - this.flows0) / seconds, cpuSeconds: cpuSeconds(this.cpu0), streamCpuSeconds: cpuSeconds(this.cpuStart), streamFlows: flows - this.flows0, startMs, endMs: startMs + seconds * 1000 };
  }
}

/** Sends the result to the parent (or prints it) and exits. */
export function finish(result) {
  const out = { ...result, maxRssMB: process.resourceUsage().maxRSS / 1024, rssMB: process.memoryUsage().rss / 1048576 };
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
