import { accessSync, constants, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { FlowFilterSchema, type FlowFilter } from './gen/flow/flow_pb.js';
import { parsePrefix } from './net/prefix.js';

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

/** Kubernetes' limit on a node name (a DNS subdomain), characters. */
const MAX_NODE_NAME = 253;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes node name (RFC 1123 subdomain), as `spec.nodeName` holds it. */
export function nodeNameArg(v: string): string {
  if (v.length > MAX_NODE_NAME || !dnsSubdomain.test(v)) {
    throw new InvalidArgumentError(`expected a Kubernetes node name (lowercase letters, digits, '-' and '.', at most ${MAX_NODE_NAME} characters), as spec.nodeName holds it`);
  }
  return v;
}

/** Highest TCP port. */
const MAX_PORT = 65_535;
/** Longest DNS name and label (RFC 1035). */
const MAX_HOST_NAME = 253;
const hostLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function isHostName(h: string): boolean {
  // All digits and dots is meant as an IPv4 address, and 999.1.1.1 is not one.
  if (/^[\d.]+$/.test(h)) return false;
  return h.length <= MAX_HOST_NAME && h.split('.').every((l) => hostLabel.test(l));
}

/** `host:port` to listen on: an IPv4 address, `[IPv6]` or a host name; port 0 picks one. */
export function listenAddressArg(v: string): string {
  const m = v.match(/^(\[([^\]]+)\]|[^:[\]]+):(\d{1,5})$/);
  const host = m?.[2] ?? m?.[1] ?? '';
  const ok = m && Number(m[3]) <= MAX_PORT && (m[2] !== undefined ? isIPv6(host) : isIPv4(host) || isHostName(host));
  if (!ok) throw new InvalidArgumentError('expected host:port with an IPv4 address, [IPv6 address] or host name and a port from 0 to 65535, e.g. 0.0.0.0:9967');
  return v;
}

/** A CIDR such as 10.96.0.0/12, collected when repeated. */
export function cidrArg(v: string, previous: string[] = []): string[] {
  try {
    parsePrefix(v);
  } catch {
    throw new InvalidArgumentError('expected address/length such as 10.96.0.0/12 or fd00:10:96::/112');
  }
  return [...previous, v];
}

/**
 * A file that must exist and be readable when the command starts; a
 * directory is named as one, with the glob that was probably meant
 * (`pattern`, e.g. `*.yaml`).
 */
export function fileArg(pattern: string) {
  return (v: string): string => {
    let dir: boolean;
    try {
      dir = statSync(v).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InvalidArgumentError(code === 'ENOENT' ? 'no such file' : code === 'ENOTDIR' ? 'no such file (a part of the path is not a directory)' : `cannot read it (${code ?? (e as Error).message})`);
    }
    if (dir) throw new InvalidArgumentError(`is a directory; pass the files inside it, e.g. ${v.replace(/\/+$/, '')}/${pattern}`);
    try {
      accessSync(v, constants.R_OK);
    } catch (e) {
      throw new InvalidArgumentError(`not readable (${(e as NodeJS.ErrnoException).code ?? 'no permission'}); check its permissions`);
    }
    return v;
  };
}

/** `fileArg`, collected when repeated (and for variadic options). */
export function fileListArg(pattern: string) {
  const one = fileArg(pattern);
  return (v: string, previous: string[] = []): string[] => [...previous, one(v)];
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
