import { create, toBinary } from '@bufbuild/protobuf';
import { Server, ServerCredentials, status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Flow } from '../../src/gen/flow/flow_pb.js';
import { GetFlowsResponseSchema, type GetFlowsRequest } from '../../src/gen/observer/observer_pb.js';
import { observerServerDefinition } from '../../src/ingest/observer-service.js';

/** One encoded GetFlowsResponse and the time Relay's `since` filter compares. */
export interface ScriptedMessage {
  bytes: Uint8Array;
  seconds: number;
  nanos: number;
}

export function flowMessage(flow: Flow): ScriptedMessage {
  const t = flow.time!;
  return {
    bytes: toBinary(GetFlowsResponseSchema, create(GetFlowsResponseSchema, { responseTypes: { case: 'flow', value: flow }, nodeName: flow.nodeName, time: t })),
    seconds: Number(t.seconds),
    nanos: t.nanos,
  };
}

/** The `n`-th stream ends with `code` after writing `afterMessages` messages. */
export interface Cut {
  afterMessages: number;
  code: status;
  details: string;
}

/**
 * A relay with a fixed history, for fault tests: a real grpc-js server whose
 * GetFlows sends, in history order (Relay's arrival order), every message
 * stamped at or after the request's `since`, then idles as a follow stream
 * does. Stream n can be cut with a status after a number of messages.
 */
export class ScriptedRelay {
  private readonly server = new Server({ 'grpc.max_send_message_length': -1 });
  /** GetFlows calls received. */
  streamsOpened = 0;
  /** Streams that wrote the whole (since-filtered) history. */
  streamsFinished = 0;

  constructor(
    readonly history: ScriptedMessage[],
    readonly cuts: Array<Cut | undefined> = [],
  ) {
    this.server.addService(observerServerDefinition, {
      GetFlows: (call: ServerWritableStream<GetFlowsRequest, Uint8Array>) => void this.getFlows(call),
      GetNodes: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED }),
      ServerStatus: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED }),
    });
  }

  listen(address = '127.0.0.1:0'): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(err);
        else resolve(`${address.slice(0, address.lastIndexOf(':'))}:${port}`);
      });
    });
  }

  close(): void {
    this.server.forceShutdown();
  }

  private async getFlows(call: ServerWritableStream<GetFlowsRequest, Uint8Array>): Promise<void> {
    const cut = this.cuts[this.streamsOpened++];
    const since = call.request.since;
    const sS = since ? Number(since.seconds) : -Infinity;
    const sN = since ? since.nanos : 0;
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    let written = 0;
    for (const m of this.history) {
      if (cancelled) return;
      if (m.seconds < sS || (m.seconds === sS && m.nanos < sN)) continue;
      if (cut && written >= cut.afterMessages) {
        call.emit('error', { code: cut.code, details: cut.details });
        return;
      }
      written++;
      if (!call.write(m.bytes)) await new Promise((r) => call.once('drain', r));
    }
    if (cut && written >= cut.afterMessages) {
      call.emit('error', { code: cut.code, details: cut.details });
      return;
    }
    this.streamsFinished++;
    // A follow stream: idle until the client goes.
  }
}
