import { AttributionPipeline } from '../attribution/pipeline.js';
import type { FlowRecord } from '../ingest/flow-record.js';
import { replayFiles, type FileProgress } from '../ingest/file-source.js';
import { stateFromObjects } from '../ipam/from-objects.js';
import { loadIpamFiles } from '../ipam/ipam-files.js';
import { IpamError } from '../ipam/model.js';
import { IpamSnapshot } from '../ipam/snapshot.js';
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
  const sink = {
    flow: (rec: FlowRecord) => {
      const t = rec.timeSeconds + rec.timeNanos * 1e-9;
      if (t > 0 && (first === 0 || t < first)) first = t;
      return pipeline.flow(rec);
    },
    lostEvents: pipeline.lostEvents.bind(pipeline),
    nodeStatus: pipeline.nodeStatus.bind(pipeline),
  };
  const replay = await replayFiles(opts.flowFiles, sink, opts.onProgress ? { onProgress: opts.onProgress } : {});
  return buildReport(pipeline, snap, replay, opts.flowFiles, opts.ipamFiles, first);
}
