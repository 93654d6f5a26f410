import type { LostEvent } from '../../src/gen/flow/flow_pb.js';
import type { NodeStatusEvent } from '../../src/gen/relay/relay_pb.js';
import { FlowRecord } from '../../src/ingest/flow-record.js';
import type { FlowSink } from '../../src/ingest/sink.js';

/**
 * A sink that remembers what reached it: the test seam of every flow source.
 * Keeps copies of the flows only when asked to (`keepFlows`).
 */
export class RecordingSink implements FlowSink {
  flows = 0;
  /** How often each flow key arrived (uuid, else time@node). More than 1 is a duplicate. */
  readonly keys = new Map<string, number>();
  readonly kept: FlowRecord[] = [];
  readonly lost: Array<{ ev: LostEvent; nodeName: string }> = [];
  readonly statuses: NodeStatusEvent[] = [];
  readonly perNode = new Map<string, number>();

  constructor(private readonly keepFlows = false) {}

  static key(rec: FlowRecord): string {
    return rec.uuid !== '' ? rec.uuid : `${rec.timeSeconds}.${rec.timeNanos}@${rec.nodeName}`;
  }

  flow(rec: FlowRecord): boolean {
    this.flows++;
    const k = RecordingSink.key(rec);
    this.keys.set(k, (this.keys.get(k) ?? 0) + 1);
    this.perNode.set(rec.nodeName, (this.perNode.get(rec.nodeName) ?? 0) + 1);
    if (this.keepFlows) {
      const copy = new FlowRecord();
      copy.copyFrom(rec);
      this.kept.push(copy);
    }
    return true;
  }

  lostEvents(ev: LostEvent, nodeName: string): void {
    this.lost.push({ ev, nodeName });
  }

  nodeStatus(ev: NodeStatusEvent): void {
    this.statuses.push(ev);
  }

  /** Keys that arrived more than once. */
  duplicates(): string[] {
    return [...this.keys].filter(([, n]) => n > 1).map(([k]) => k);
  }

  lostTotal(): number {
    return this.lost.reduce((a, l) => a + Number(l.ev.numEventsLost), 0);
  }
}
