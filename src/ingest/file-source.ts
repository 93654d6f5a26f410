import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FlowSchema } from '../gen/flow/flow_pb.js';
import { GetFlowsResponseSchema, type GetFlowsResponse } from '../gen/observer/observer_pb.js';
import { FlowRecord, recordFromFlow } from './flow-record.js';
import type { FlowSink } from './sink.js';

/**
 * Flows from files: lines of `hubble observe -o jsonpb` (GetFlowsResponse
 * protojson), of Hubble's flow exporter (ExportEvent protojson, the same
 * shape plus agent and debug events, which are skipped), or bare Flow objects
 * (`hubble observe -o json`). Field names may be proto or JSON names; unknown
 * fields are ignored; gzip is recognised by its magic bytes, whatever the
 * file is called.
 */
export interface FileLine {
  file: string;
  /** 1-based line number. */
  line: number;
  response?: GetFlowsResponse;
  /** Why the line was not a response. */
  error?: string;
}

export interface FileProgress {
  file: string;
  /** Bytes of the file consumed so far (compressed bytes for gzip). */
  bytesRead: number;
  /** The file's size on disk. */
  bytesTotal: number;
}

export interface ReadOptions {
  /** Called at most every `progressEveryLines` lines. */
  onProgress?: (p: FileProgress) => void;
  /** Default 1000. */
  progressEveryLines?: number;
  signal?: AbortSignal;
}

const jsonOptions = { ignoreUnknownFields: true } as const;

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Parses one line into a response; throws with the reason. */
export function parseFlowLine(text: string): GetFlowsResponse | undefined {
  const obj = JSON.parse(text) as JsonValue;
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('not a JSON object');
  if ('flow' in obj || 'node_status' in obj || 'nodeStatus' in obj || 'lost_events' in obj || 'lostEvents' in obj) {
    return fromJson(GetFlowsResponseSchema, obj, jsonOptions);
  }
  if ('agent_event' in obj || 'agentEvent' in obj || 'debug_event' in obj || 'debugEvent' in obj) return undefined;
  // A bare flow, as `hubble observe -o json` prints it.
  const flow = fromJson(FlowSchema, obj, jsonOptions);
  const res = fromJson(GetFlowsResponseSchema, {}, jsonOptions);
  res.responseTypes = { case: 'flow', value: flow };
  res.nodeName = flow.nodeName;
  res.time = flow.time;
  return res;
}

/** Reads one file line by line. Blank lines are skipped; bad lines come back with `error`. */
export async function* readFlowFile(file: string, opts: ReadOptions = {}): AsyncGenerator<FileLine> {
  const bytesTotal = (await stat(file)).size;
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const input: Readable = (await isGzip(file)) ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (e) => input.destroy(e));
  const lines = createInterface({ input, crlfDelay: Infinity });
  const every = opts.progressEveryLines ?? 1000;
  let n = 0;
  try {
    for await (const text of lines) {
      n++;
      if (opts.signal?.aborted) break;
      if (opts.onProgress && n % every === 0) opts.onProgress({ file, bytesRead: raw.bytesRead, bytesTotal });
      if (text.trim() === '') continue;
      try {
        const response = parseFlowLine(text);
        if (response) yield { file, line: n, response };
      } catch (e) {
        yield { file, line: n, error: (e as Error).message };
      }
    }
  } catch (e) {
    throw new Error(`cannot read flows from ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    lines.close();
    raw.destroy();
  }
  opts.onProgress?.({ file, bytesRead: bytesTotal, bytesTotal });
}

export interface FileReplayStats {
  lines: number;
  flows: number;
  lostEvents: number;
  nodeStatus: number;
  errors: number;
  /** The first few bad lines, `file:line: reason`. */
  firstErrors: string[];
}

/**
 * Sends every event of the files to a sink, in file order, honouring the
 * sink's backpressure. Bad lines are counted and the first ten kept.
 */
export async function replayFiles(files: string[], sink: FlowSink, opts: ReadOptions = {}): Promise<FileReplayStats> {
  const stats: FileReplayStats = { lines: 0, flows: 0, lostEvents: 0, nodeStatus: 0, errors: 0, firstErrors: [] };
  const rec = new FlowRecord();
  for (const file of files) {
    for await (const l of readFlowFile(file, opts)) {
      stats.lines++;
      if (l.error !== undefined) {
        stats.errors++;
        if (stats.firstErrors.length < 10) stats.firstErrors.push(`${l.file}:${l.line}: ${l.error}`);
        continue;
      }
      const r = l.response!.responseTypes;
      if (r.case === 'flow') {
        stats.flows++;
        if (!sink.flow(recordFromFlow(r.value, l.response!.nodeName, rec)) && sink.drained) await sink.drained();
      } else if (r.case === 'lostEvents') {
        stats.lostEvents++;
        sink.lostEvents(r.value, l.response!.nodeName);
      } else if (r.case === 'nodeStatus') {
        stats.nodeStatus++;
        sink.nodeStatus(r.value, l.response!.nodeName);
      }
    }
  }
  return stats;
}

/** Reads whole files into responses (for tests and small inputs). */
export async function readAllResponses(file: string): Promise<FileLine[]> {
  const out: FileLine[] = [];
  for await (const l of readFlowFile(file)) out.push(l);
  return out;
}

