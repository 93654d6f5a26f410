import { InvalidArgumentError, Option, type Command } from 'commander';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FlowFilterSchema, type FlowFilter } from './gen/flow/flow_pb.js';

/** Every flag can also come from the environment: HUBBLE_IPAM_<FLAG_IN_CAPS>. */
export function envName(flag: string): string {
  return `HUBBLE_IPAM_${flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase()}`;
}

const booleanEnv = new WeakMap<Option, string>();

/**
 * An option whose environment variable follows from its long flag. Options
 * that take a value use commander's own env support; boolean flags are read
 * by `applyBooleanEnv`, because commander turns a boolean on whenever its
 * variable exists, even as `false`.
 */
export function opt(flags: string, description: string): Option {
  const long = flags.match(/--[\w-]+/)?.[0];
  if (!long) return new Option(flags, description);
  if (/[<[]/.test(flags)) return new Option(flags, description).env(envName(long));
  const name = envName(long);
  const o = new Option(flags, `${description} (env: ${name}=true|false)`);
  booleanEnv.set(o, name);
  return o;
}

/** Sets boolean flags from `true`/`false` (or 1/0, yes/no) environment values, below the command line. */
export function applyBooleanEnv(cmd: Command): void {
  for (const o of cmd.options) {
    const name = booleanEnv.get(o);
    if (!name || !(name in process.env)) continue;
    const key = o.attributeName();
    if (cmd.getOptionValueSource(key) === 'cli') continue;
    const raw = String(process.env[name]).trim().toLowerCase();
    const on = ['true', '1', 'yes'].includes(raw) ? true : ['false', '0', 'no', ''].includes(raw) ? false : undefined;
    if (on === undefined) cmd.error(`error: option '${o.flags}' value '${process.env[name]}' from env '${name}' is invalid. expected true or false`, { exitCode: 1 });
    // A negated flag (--no-uuids) turns its setting off when its variable is true.
    cmd.setOptionValueWithSource(key, o.negate ? !on : on, 'env');
  }
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
