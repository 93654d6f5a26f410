import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { GetNodesResponseSchema, ServerStatusResponseSchema, type GetFlowsRequest } from '../../src/gen/observer/observer_pb.js';
import { observerServerDefinition } from '../../src/ingest/observer-service.js';

/**
 * A real grpc-js Observer server over loopback that sends fixed, pre-encoded
 * GetFlowsResponses on every GetFlows call, then keeps the stream open as a
 * following relay does. It ignores every request field (filters, field masks),
 * as an old or foreign server would, and remembers the requests.
 */
export class StaticRelay {
  readonly requests: GetFlowsRequest[] = [];
  /** Responses written, over all calls. */
  sent = 0;
  private readonly server = new Server();

  constructor(private readonly responses: readonly Uint8Array[]) {
    this.server.addService(observerServerDefinition, {
      GetFlows: (call: ServerWritableStream<GetFlowsRequest, Uint8Array>) => {
        this.requests.push(call.request);
        for (const r of this.responses) {
          call.write(r);
          this.sent++;
        }
        call.on('cancelled', () => call.end());
      },
      GetNodes: (_c: unknown, cb: (e: null, r: unknown) => void) => cb(null, create(GetNodesResponseSchema)),
      ServerStatus: (_c: unknown, cb: (e: null, r: unknown) => void) => cb(null, create(ServerStatusResponseSchema)),
    });
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(`127.0.0.1:${port}`))),
    );
  }

  close(): void {
    this.server.forceShutdown();
  }
}
