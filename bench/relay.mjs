/**
 * The benchmark's Hubble Relay: a grpc-js server (our Observer service
 * definition: raw-bytes GetFlows responses) in its own process that sends a
 * pool of pre-encoded GetFlowsResponse messages, cycling it, as fast as
 * HTTP/2 flow control lets it: it writes until `write()` says the buffer is
 * full, then waits for 'drain'.
 *
 * Forked by run.mjs. IPC: it sends {type: 'ready', address, summary} once the
 * pool is built; {type: 'arm', flows} sets how many flows the next GetFlows
 * stream gets (answered with {type: 'armed'}); after a stream has sent them
 * it stays open, as a follow stream does, until the client goes, and
 * {type: 'stream-done', ...} reports it.
 *
 *   node bench/relay.mjs [--pool truth --pool-size 50000 | --pool soak --soak-pods 100000] [--flows N]
 *     [--profile FILE.cpuprofile]   CPU profile of the first stream
 */
import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { GetNodesResponseSchema, ServerStatusResponseSchema } from '../dist/gen/observer/observer_pb.js';
import { observerServerDefinition } from '../dist/ingest/observer-service.js';
import { num, parseArgs } from './lib/args.mjs';
import { profiled } from './lib/inspector-profile.mjs';
import { soakPool, truthPool } from './lib/pool.mjs';

const args = parseArgs();
const started = performance.now();
const { pool, summary } = args.pool === 'soak' ? soakPool({ pods: num(args['soak-pods'], 100_000) }) : truthPool(num(args['pool-size'], 50_000));
const buildMs = performance.now() - started;
let armed = num(args.flows, 1_000_000);
let sentTotal = 0;

function waitDrain(call) {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
  });
}

let profileFile = args.profile;

async function getFlows(call) {
  const file = profileFile;
  profileFile = undefined;
  const report = await profiled(file, () => send(call));
  if (process.send) process.send(report);
  else console.log(JSON.stringify(report));
  // A follow stream: open until the client cancels.
}

async function send(call) {
  const flows = armed;
  let gone = false;
  call.on('cancelled', () => (gone = true));
  call.on('close', () => (gone = true));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let drainWaits = 0;
  let sent = 0;
  const n = pool.length;
  while (sent < flows && !gone) {
    const ok = call.write(pool[sent % n]);
    sent++;
    if (!ok) {
      drainWaits++;
      await waitDrain(call);
    }
  }
  sentTotal += sent;
  const cpu = process.cpuUsage(cpu0);
  return { type: 'stream-done', flows: sent, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, drainWaits };
}

const server = new Server({ 'grpc.max_send_message_length': -1 });
server.addService(observerServerDefinition, {
  GetFlows: (call) => void getFlows(call),
  GetNodes: (_call, cb) => cb(null, create(GetNodesResponseSchema, {})),
  ServerStatus: (_call, cb) => cb(null, create(ServerStatusResponseSchema, { numFlows: BigInt(pool.length), maxFlows: BigInt(pool.length), seenFlows: BigInt(sentTotal), version: 'bench relay' })),
});

process.on('message', (m) => {
  if (m.type === 'arm') {
    armed = m.flows;
    process.send({ type: 'armed', flows: armed });
  } else if (m.type === 'stop') {
    server.forceShutdown();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0)); // exit cleanly (a --cpu-prof profile gets written)

server.bindAsync(args.listen ?? '127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  const address = `127.0.0.1:${port}`;
  if (process.send) process.send({ type: 'ready', address, summary, buildMs });
  else console.log(`bench relay on ${address}: ${JSON.stringify(summary)} (built in ${buildMs.toFixed(0)} ms); each stream sends ${armed} flows`);
});
