import type { LostEvent } from '../gen/flow/flow_pb.js';
import type { NodeStatusEvent } from '../gen/relay/relay_pb.js';
import { FlowRecord } from './flow-record.js';

/**
 * What a flow source hands its events to. Calls are synchronous and in
 * stream order; `flow`'s record is reused once the call returns.
 *
 * Backpressure: a sink that falls behind returns false from `flow` and the
 * source stops reading (the relay's sends then block on HTTP/2 flow control)
 * until `drained()` resolves. Sinks that finish their work inside `flow`
 * simply return true.
 */
export interface FlowSink {
  flow(rec: FlowRecord): boolean;
  lostEvents(ev: LostEvent, nodeName: string): void;
  nodeStatus(ev: NodeStatusEvent, nodeName: string): void;
  /** Resolves when a sink that returned false can take flows again. */
  drained?(): Promise<void>;
}

/**
 * Adapts an asynchronous consumer to the synchronous sink contract with a
 * bounded queue: at most `maxQueued` flows wait; past that, `flow` returns
 * false and the source pauses.
 */
export class QueueSink implements FlowSink {
  private readonly queue: FlowRecord[] = [];
  private running = false;
  private waiters: Array<() => void> = [];
  /** The most flows that ever waited at once. */
  highWater = 0;

  constructor(
    private readonly consume: (flow: FlowRecord) => Promise<void>,
    /** Flows that may wait for the consumer. Default 1024. */
    readonly maxQueued = 1024,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new RangeError(`maxQueued must be a positive integer, got ${maxQueued}`);
  }

  flow(rec: FlowRecord): boolean {
    // A copy: the source reuses its record once this returns.
    const copy = new FlowRecord();
    copy.copyFrom(rec);
    this.queue.push(copy);
    if (this.queue.length > this.highWater) this.highWater = this.queue.length;
    if (!this.running) void this.run();
    return this.queue.length < this.maxQueued;
  }

  lostEvents(): void {}
  nodeStatus(): void {}

  get queued(): number {
    return this.queue.length;
  }

  drained(): Promise<void> {
    if (this.queue.length < this.maxQueued) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      try {
        await this.consume(next);
      } catch (e) {
        this.onError(e);
      }
      // Wake the source once there is room for a good batch again.
      if (this.waiters.length > 0 && this.queue.length <= this.maxQueued / 2) {
        const w = this.waiters;
        this.waiters = [];
        for (const resolve of w) resolve();
      }
    }
    this.running = false;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
