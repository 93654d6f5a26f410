import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FlowSchema } from '../gen/flow/flow_pb.js';
import { GetFlowsResponseSchema, type GetFlowsResponse } from '../gen/observer/observer_pb.js';
import { FlowRecord } from './flow-record.js';
import { recordFromJson } from './json-record.js';
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
  if (!isBareFlow(obj)) throw notAnEvent(obj);
  // A bare flow, as `hubble observe -o json` prints it.
  const flow = fromJson(FlowSchema, obj, jsonOptions);
  const res = fromJson(GetFlowsResponseSchema, {}, jsonOptions);
  res.responseTypes = { case: 'flow', value: flow };
  res.nodeName = flow.nodeName;
  res.time = flow.time;
  return res;
}

/** Most keys of a non-event object named in its error. */
const KEYS_SHOWN = 5;

/** A JSON object that is no Hubble event, with the keys it has instead. */
function notAnEvent(o: object): Error {
  const keys = Object.keys(o);
  const shown = keys.length === 0 ? 'none' : keys.slice(0, KEYS_SHOWN).join(', ') + (keys.length > KEYS_SHOWN ? ', …' : '');
  return new Error(`a JSON object but no Hubble event: no flow, node_status or lost_events (keys: ${shown})`);
}

/** The non-blank lines of one file (gunzipped when it is gzip), with their numbers. */
export async function* readLines(file: string, opts: ReadOptions = {}): AsyncGenerator<{ line: number; text: string }> {
  const st = await stat(file);
  if (st.isDirectory()) throw new Error(`${file}: is a directory; pass the files inside it, e.g. ${file.replace(/\/+$/, '')}/*.json`);
  const bytesTotal = st.size;
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
      if (text.length === 0 || text.trim() === '') continue;
      yield { line: n, text };
    }
  } catch (e) {
    throw new Error(`cannot read flows from ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    lines.close();
    raw.destroy();
  }
  opts.onProgress?.({ file, bytesRead: bytesTotal, bytesTotal });
}

/** Reads one file into fully decoded responses. Blank lines are skipped; bad lines come back with `error`. */
export async function* readFlowFile(file: string, opts: ReadOptions = {}): AsyncGenerator<FileLine> {
  for await (const { line, text } of readLines(file, opts)) {
    try {
      const response = parseFlowLine(text);
      if (response) yield { file, line, response };
    } catch (e) {
      yield { file, line, error: (e as Error).message };
    }
  }
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
    for await (const { line, text } of readLines(file, opts)) {
      stats.lines++;
      try {
        const obj = JSON.parse(text) as unknown;
        if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('not a JSON object');
        const o = obj as Record<string, unknown>;
        // Flows, by far the most lines, take the fast lane: no protobuf-es messages.
        const flow = o.flow ?? (isBareFlow(o) ? o : undefined);
        if (flow !== undefined) {
          if (flow === null || typeof flow !== 'object') throw new Error('flow: expected an object');
          recordFromJson(flow as Record<string, unknown>, typeof (o.node_name ?? o.nodeName) === 'string' ? ((o.node_name ?? o.nodeName) as string) : '', o.time, rec);
          stats.flows++;
          if (!sink.flow(rec) && sink.drained) await sink.drained();
          continue;
        }
        // Anything else must be an event we know; a JSON object of another kind is a bad line, not a silent skip.
        const res = parseFlowLine(text);
        const r = res?.responseTypes;
        if (r?.case === 'lostEvents') {
          stats.lostEvents++;
          sink.lostEvents(r.value, res!.nodeName);
        } else if (r?.case === 'nodeStatus') {
          stats.nodeStatus++;
          sink.nodeStatus(r.value, res!.nodeName);
        }
      } catch (e) {
        stats.errors++;
        if (stats.firstErrors.length < 10) stats.firstErrors.push(`${file}:${line}: ${(e as Error).message}`);
      }
    }
  }
  return stats;
}

/** A bare Flow object (`hubble observe -o json`) rather than a response. */
function isBareFlow(o: object): boolean {
  return !('node_status' in o || 'nodeStatus' in o || 'lost_events' in o || 'lostEvents' in o || 'agent_event' in o || 'agentEvent' in o || 'debug_event' in o || 'debugEvent' in o) && ('IP' in o || 'verdict' in o || 'source' in o || 'time' in o);
}

/** Reads whole files into responses (for tests and small inputs). */
export async function readAllResponses(file: string): Promise<FileLine[]> {
  const out: FileLine[] = [];
  for await (const l of readFlowFile(file)) out.push(l);
  return out;
}

