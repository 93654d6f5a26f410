import ipaddr from 'ipaddr.js';
import { FAMILY_V4, FAMILY_V6, IpAddr, formatV4, formatV6, parseIpInto } from './ip.js';

/**
 * An immutable CIDR as numbers: the network address with host bits cleared.
 * Parsed with ipaddr.js (this is the edge, not the per-flow path); an
 * IPv4-mapped IPv6 prefix becomes its IPv4 prefix.
 */
export interface Prefix {
  readonly family: 4 | 6;
  readonly bits: number;
  /** IPv4 network as an unsigned integer (family 4). */
  readonly v4: number;
  /** IPv6 network as four 32-bit words (family 6). */
  readonly v6: Readonly<Uint32Array>;
  /** Canonical text, e.g. `10.244.1.0/24`, `fd00:10:244:1::/64`. */
  readonly text: string;
}

export class PrefixError extends Error {
  override readonly name = 'PrefixError';
}

function maskV4(v: number, bits: number): number {
  return bits === 0 ? 0 : (v & (0xffffffff << (32 - bits))) >>> 0;
}

function maskV6(w: ArrayLike<number>, bits: number): Uint32Array {
  const out = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * k));
    out[k] = keep === 0 ? 0 : keep === 32 ? w[k]! : (w[k]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return out;
}

function make(family: 4 | 6, bits: number, v4: number, v6: Uint32Array): Prefix {
  const text = family === FAMILY_V4 ? `${formatV4(v4)}/${bits}` : `${formatV6(v6)}/${bits}`;
  return Object.freeze({ family, bits, v4, v6, text });
}

const scratch = new IpAddr();

/** Parses `a.b.c.d/n` or `x::y/n`. Host bits are cleared. Throws PrefixError naming the value. */
export function parsePrefix(text: string): Prefix {
  const s = text.trim();
  const slash = s.lastIndexOf('/');
  const lenText = s.slice(slash + 1);
  const bad = () => new PrefixError(`invalid CIDR ${JSON.stringify(text)}: expected address/length such as 10.244.0.0/16 or fd00:10:244::/56`);
  if (slash < 0 || !/^\d{1,3}$/.test(lenText)) throw bad();
  let bits = Number(lenText);
  const addrText = s.slice(0, slash);
  // ipaddr.js says whether it is an address at all; our strict parser gives the numbers
  // (it also refuses shorthand such as 10.0.0/8 that ipaddr.js would take).
  if (!ipaddr.isValid(addrText) || !parseIpInto(addrText, scratch)) throw bad();
  const mapped = scratch.family === FAMILY_V4 && addrText.includes(':');
  if (mapped) {
    if (bits < 96 || bits > 128) throw bad();
    bits -= 96;
  }
  if (bits > (scratch.family === FAMILY_V4 ? 32 : 128)) throw bad();
  return scratch.family === FAMILY_V4
    ? make(4, bits, maskV4(scratch.v4, bits), new Uint32Array(4))
    : make(6, bits, 0, maskV6(scratch.v6, bits));
}

/** A single address as a /32 or /128. Throws PrefixError when `ip` is not an address. */
export function hostPrefix(ip: string): Prefix {
  if (!parseIpInto(ip.trim(), scratch)) throw new PrefixError(`invalid IP address ${JSON.stringify(ip)}`);
  return prefixOfAddr(scratch, scratch.family === FAMILY_V4 ? 32 : 128);
}

/** The prefix of `bits` that contains `a`. */
export function prefixOfAddr(a: IpAddr, bits: number): Prefix {
  return a.family === FAMILY_V4 ? make(4, bits, maskV4(a.v4, bits), new Uint32Array(4)) : make(6, bits, 0, maskV6(a.v6, bits));
}

/** True when `outer` contains `inner` (or they are equal). */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  if (outer.family === FAMILY_V4) return maskV4(inner.v4, outer.bits) === outer.v4;
  const m = maskV6(inner.v6, outer.bits);
  return m[0] === outer.v6[0] && m[1] === outer.v6[1] && m[2] === outer.v6[2] && m[3] === outer.v6[3];
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function prefixContainsAddr(p: Prefix, a: IpAddr): boolean {
  if (p.family !== a.family) return false;
  if (p.family === FAMILY_V4) return maskV4(a.v4, p.bits) === p.v4;
  const m = maskV6(a.v6, p.bits);
  return m[0] === p.v6[0] && m[1] === p.v6[1] && m[2] === p.v6[2] && m[3] === p.v6[3];
}

/** Number of addresses (a float for large IPv6 prefixes). */
export function prefixSize(p: Prefix): number {
  return 2 ** ((p.family === FAMILY_V4 ? 32 : 128) - p.bits);
}

/** The `n`-th address of the prefix as text (n counted from the network address). */
export function nthAddress(p: Prefix, n: number): string {
  if (p.family === FAMILY_V4) return formatV4((p.v4 + n) >>> 0);
  const w = Uint32Array.from(p.v6);
  let carry = n;
  for (let k = 3; k >= 0 && carry > 0; k--) {
    const sum = w[k]! + (carry % 4294967296);
    w[k] = sum >>> 0;
    carry = Math.floor(carry / 4294967296) + (sum > 0xffffffff ? 1 : 0);
  }
  return formatV6(w);
}

export const addressBits = (family: 4 | 6): number => (family === FAMILY_V6 ? 128 : 32);
