import { InvalidArgumentError, Option } from 'commander';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FlowFilterSchema, type FlowFilter } from './gen/flow/flow_pb.js';

/** Every flag can also come from the environment: HUBBLE_IPAM_<FLAG_IN_CAPS>. */
export function envName(flag: string): string {
  return `HUBBLE_IPAM_${flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

/** An option whose environment variable follows from its long flag. */
export function opt(flags: string, description: string): Option {
  const long = flags.match(/--[\w-]+/)?.[0];
  const o = new Option(flags, description);
  return long ? o.env(envName(long)) : o;
}

export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export function numberArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number >= ${min}`);
    return n;
  };
}

/** `host:port`, `[v6]:port` or `unix:///path`. */
export function addressArg(v: string): string {
  if (v.startsWith('unix:')) return v;
  const m = v.match(/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError('expected host:port or unix:///path');
  return v;
}

/** A Hubble FlowFilter as protojson, e.g. '{"verdict":["DROPPED"]}'. Repeatable. */
export function filterArg(v: string, previous: FlowFilter[] = []): FlowFilter[] {
  let json: JsonValue;
  try {
    json = JSON.parse(v) as JsonValue;
  } catch (e) {
    throw new InvalidArgumentError(`not JSON: ${(e as Error).message}`);
  }
  try {
    return [...previous, fromJson(FlowFilterSchema, json)];
  } catch (e) {
    throw new InvalidArgumentError(`not a Hubble FlowFilter: ${(e as Error).message}`);
  }
}

export function collect(v: string, previous: string[] = []): string[] {
  return [...previous, v];
}
