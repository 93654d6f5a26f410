/**
 * The benchmark's Hubble Relay: a grpc-js server (our Observer service
 * definition: raw-bytes GetFlows responses) in its own process that sends a
 * pool of pre-encoded GetFlowsResponse messages, cycling it, as fast as
 * HTTP/2 flow control lets it: it writes until `write()` says the buffer is
 * full, then waits for 'drain'.
 *
 * Field masks are honoured as the simulated relay (and Hubble) does: the
 * request's `field_mask`, or `experimental.field_mask` when that is empty,
 * selects a pool whose flows were masked with `maskFlow` and encoded once,
 * before any timed stream: the unmasked pool and the exporter's mask
 * (FLOW_MASK_PATHS) at start, any other mask on an 'arm' that names it (or,
 * run by hand, on the first request that asks for it). A mask Hubble would
 * refuse is answered with INVALID_ARGUMENT. No stream pays for masking.
 *
 * Forked by run.mjs. IPC: it sends {type: 'ready', address, summary, masked}
 * once the pools are built; {type: 'arm', flows, maskPaths?} sets how many
 * flows the next GetFlows stream gets (answered with {type: 'armed'}); after
 * a stream has sent them it stays open, as a follow stream does, until the
 * client goes, and {type: 'stream-done', ...} reports it, with the bytes per
 * flow it wrote.
 *
 * An 'arm' with `rate` paces the next stream (flows/s). With {type: 'arm', hold: true} the next stream waits, once it is open
 * ({type: 'stream-open'} says so), for {type: 'go'}: several relays then
 * start sending at once (the per-node rows' three agents).
 *
 *   node bench/relay.mjs [--pool real|truth --pool-size 50000 | --pool soak --soak-pods 100000
 *                         | --pool per-node --pool-size 30000 [--agent-node worker-0000]] [--flows N]
 *     [--listen 127.0.0.1:0 | unix:///path]
 *     [--rate N]                    pace: at most N flows/s (default: as fast as flow control lets it)
 *     [--profile FILE.cpuprofile]   CPU profile of the first stream
 *
 * `--pool per-node` (bench/lib/per-node.mjs): flows observed on three nodes of a
 * 5,000-node cluster; with `--agent-node` only that node's (its agent's share).
 */
import { rmSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { FLOW_MASK_PATHS } from '../dist/ingest/field-mask.js';
import { GetNodesResponseSchema, ServerStatusResponseSchema } from '../dist/gen/observer/observer_pb.js';
import { observerServerDefinition } from '../dist/ingest/observer-service.js';
import { InvalidFieldMaskError, maskTree } from '../dist/sim/hubble-field-mask.js';
import { num, parseArgs } from './lib/args.mjs';
import { profiled } from './lib/inspector-profile.mjs';
import { perNodePool } from './lib/per-node.mjs';
import { realLikePool, soakPool, truthPool } from './lib/pool.mjs';

/** The gRPC message prefix (compressed flag + 4-byte length) each message carries on the wire. */
const GRPC_MESSAGE_PREFIX_BYTES = 5;

const args = parseArgs();
const kind = args.pool ?? 'real';
if (!['real', 'truth', 'soak', 'per-node'].includes(kind)) throw new Error(`--pool: unknown pool ${kind} (real, truth, soak or per-node)`);
const agentNode = args['agent-node'];
if (agentNode !== undefined && kind !== 'per-node') throw new Error('--agent-node needs --pool per-node');
/** Flows per second at most (0: as fast as flow control lets it); an 'arm' with `rate` sets the next stream's. */
const defaultRate = num(args.rate, 0);
let armedRate = defaultRate;
const build = (maskPaths) =>
  kind === 'soak' ? soakPool({ pods: num(args['soak-pods'], 100_000) }, maskPaths)
  : kind === 'per-node' ? perNodePool(num(args['pool-size'], 30_000), agentNode, maskPaths)
  : kind === 'truth' ? truthPool(num(args['pool-size'], 50_000), maskPaths)
  : realLikePool(num(args['pool-size'], 50_000), maskPaths);
const maskKey = (paths) => JSON.stringify([...new Set(paths)].sort());
/** Pools by mask key ('[]': whole flows). */
const pools = new Map();
function poolFor(paths) {
  const key = maskKey(paths);
  let p = pools.get(key);
  if (p === undefined) {
    maskTree(paths); // throws InvalidFieldMaskError for a mask Hubble would refuse
    p = build(paths);
    pools.set(key, p);
  }
  return p;
}
const started = performance.now();
const { pool, summary } = poolFor([]);
const masked = poolFor(FLOW_MASK_PATHS).summary;
const buildMs = performance.now() - started;
let armed = num(args.flows, 1_000_000);
let sentTotal = 0;
/** Set by an 'arm' with hold: the next stream waits for this promise ('go'). */
let held;
let go = () => {};

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
  const req = call.request;
  const paths = req.fieldMask !== undefined && req.fieldMask.paths.length > 0 ? req.fieldMask.paths : (req.experimental?.fieldMask?.paths ?? []);
  let pool;
  try {
    pool = poolFor(paths).pool;
  } catch (e) {
    if (!(e instanceof InvalidFieldMaskError)) throw e;
    call.emit('error', { code: status.INVALID_ARGUMENT, details: e.message });
    return { type: 'stream-done', flows: 0, seconds: 0, cpuSeconds: 0, drainWaits: 0, error: e.message };
  }
  let gone = false;
  call.on('cancelled', () => (gone = true));
  call.on('close', () => (gone = true));
  const hold = held;
  held = undefined;
  const rate = armedRate;
  process.send?.({ type: 'stream-open' });
  if (hold) await hold;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let drainWaits = 0;
  let sent = 0;
  let bytes = 0;
  const n = pool.length;
  while (sent < flows && !gone) {
    if (rate > 0) {
      // Paced: flow `sent` is due at t0 + sent / rate.
      const due = t0 + (sent * 1000) / rate - performance.now();
      if (due > 1) await new Promise((r) => setTimeout(r, due));
    }
    const msg = pool[sent % n];
    const ok = call.write(msg);
    bytes += msg.length;
    sent++;
    if (!ok) {
      drainWaits++;
      await waitDrain(call);
    }
  }
  sentTotal += sent;
  const cpu = process.cpuUsage(cpu0);
  return {
    type: 'stream-done',
    flows: sent,
    seconds: (performance.now() - t0) / 1000,
    rate: rate || undefined,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    drainWaits,
    maskPaths: paths.length,
    // Protobuf bytes per flow, and with gRPC's message prefix (HTTP/2 frame headers not counted).
    messageBytesPerFlow: bytes / Math.max(1, sent),
    wireBytesPerFlow: (bytes + GRPC_MESSAGE_PREFIX_BYTES * sent) / Math.max(1, sent),
  };
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
    if (m.maskPaths) poolFor(m.maskPaths); // built now, not during the stream
    held = m.hold ? new Promise((r) => (go = r)) : undefined;
    armedRate = m.rate ?? defaultRate;
    process.send({ type: 'armed', flows: armed });
  } else if (m.type === 'go') {
    go();
  } else if (m.type === 'stop') {
    server.forceShutdown();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0)); // exit cleanly (a --cpu-prof profile gets written)

// A socket file left by an earlier relay killed before it could remove it (bench runs use a fresh directory).
if (args.listen?.startsWith('unix://')) rmSync(args.listen.slice('unix://'.length), { force: true });
server.bindAsync(args.listen ?? '127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  const address = args.listen?.startsWith('unix:') ? args.listen : `127.0.0.1:${port}`;
  if (process.send) process.send({ type: 'ready', address, summary, masked, buildMs });
  else console.log(`bench relay on ${address}: ${JSON.stringify(summary)}; under the exporter's mask ${masked.avgBytes.toFixed(0)} B a flow (built in ${buildMs.toFixed(0)} ms); each stream sends ${armed} flows`);
});
