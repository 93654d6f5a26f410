/**
 * The hashes of the hot path, in one place: the number keys the per-flow
 * trackers use instead of strings (an address key, a 32-bit hash of a pod's
 * namespace and name), and the 53-bit hash of a string or of its bytes that
 * the decoders give uuids and interned names.
 */

/** A stable number for an address: the IPv4 value, or a 53-bit hash of the IPv6 words (negative). */
export function addressKey(family: number, v4: number, v6: ArrayLike<number>): number {
  if (family === 4) return v4;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let k = 0; k < 4; k++) {
    h1 = Math.imul(h1 ^ v6[k]!, 0x85ebca6b) >>> 0;
    h2 = Math.imul(h2 ^ v6[3 - k]!, 0xc2b2ae35) >>> 0;
  }
  return -(h1 * 0x200000 + (h2 & 0x1fffff) + 1);
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SLASH = 47;

/** FNV-1a over `namespace/pod` without building the string: 0 .. 2^32 - 1. */
export function podNameHash32(namespace: string, pod: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < namespace.length; i++) h = Math.imul(h ^ namespace.charCodeAt(i), FNV_PRIME);
  h = Math.imul(h ^ SLASH, FNV_PRIME);
  for (let i = 0; i < pod.length; i++) h = Math.imul(h ^ pod.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** A 53-bit non-zero hash of a string's code units (for ASCII the same as of its UTF-8 bytes). */
export function hashCodes(s: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff) + 1;
}

/** The same hash over bytes [start, end). */
export function hashBytes(b: Uint8Array, start: number, end: number): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff) + 1;
}
