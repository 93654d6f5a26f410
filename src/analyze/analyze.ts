import { AttributionPipeline } from '../attribution/pipeline.js';
import { LostEventSource, type LostEvent } from '../gen/flow/flow_pb.js';
import type { FlowRecord } from '../ingest/flow-record.js';
import { replayFiles, type FileProgress } from '../ingest/file-source.js';
import { stateFromObjects } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import { IpamError } from '../ipam/model.js';
import { IpamSnapshot } from '../ipam/snapshot.js';
import { readModelOf } from '../read-model/read-model.js';
import { buildReport, type MigrationReport } from './report.js';

export interface AnalyzeOptions {
  flowFiles: string[];
  ipamFiles: string[];
  serviceCidrs?: string[];
  onProgress?: (p: FileProgress) => void;
}

/**
 * Offline analysis: the IPAM objects give one snapshot, every flow of the
 * files goes through the same pipeline as the live service, and the report
 * is read off the same counters the exporter serves.
 */
export async function analyze(opts: AnalyzeOptions): Promise<MigrationReport> {
  const files = loadIpamFiles(opts.ipamFiles);
  const { state, problems } = stateFromObjects({ objects: files.items, configs: files.configs, serviceCidrs: opts.serviceCidrs ?? [] });
  const all = [...files.problems, ...problems];
  if (all.length > 0) throw new IpamError(all);
  const snap = IpamSnapshot.build(state);
  // One window over the whole dump: every offender counts.
  const pipeline = new AttributionPipeline({ windowSec: 10 * 365 * 86400 });
  pipeline.setSnapshot(snap);
  let first = 0;
  // The files are this run's stream: its lost events (by source) are counted here, as RelayStats does live.
  const lost = new Map<string, number>();
  const sink = {
    flow: (rec: FlowRecord) => {
      const t = rec.timeSeconds + rec.timeNanos * 1e-9;
      if (t > 0 && (first === 0 || t < first)) first = t;
      return pipeline.flow(rec);
    },
    lostEvents: (ev: LostEvent) => {
      const source = LostEventSource[ev.source] ?? String(ev.source);
      lost.set(source, (lost.get(source) ?? 0) + Number(ev.numEventsLost));
    },
    nodeStatus: pipeline.nodeStatus.bind(pipeline),
  };
  const replay = await replayFiles(opts.flowFiles, sink, opts.onProgress ? { onProgress: opts.onProgress } : {});
  return buildReport(readModelOf(pipeline), snap, { ...replay, lostBySource: lost }, opts.flowFiles, opts.ipamFiles, first);
}
