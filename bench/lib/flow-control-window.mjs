/**
 * What-if preload (`node --import bench/lib/flow-control-window.mjs ...`):
 * every grpc-js channel this process opens gets an HTTP/2 flow-control
 * window of BENCH_FLOW_CONTROL_WINDOW bytes (grpc-js channel option
 * `grpc-node.flow_control_window`; grpc-js's default is HTTP/2's 65,535).
 * It shows what RelayClient would gain by setting that option, without
 * changing src/: it wraps grpc-js's channel class, which grpc-js's Client
 * looks up when it is constructed.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const channel = require('@grpc/grpc-js/build/src/channel');
const window = Number(process.env.BENCH_FLOW_CONTROL_WINDOW ?? 4 * 1024 * 1024);
const Original = channel.ChannelImplementation;
channel.ChannelImplementation = class extends Original {
  constructor(target, credentials, options) {
    super(target, credentials, { ...options, 'grpc-node.flow_control_window': window });
  }
};
