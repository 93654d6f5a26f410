/**
 * Numeric IP addresses for the per-flow path.
 *
 * Flows carry addresses as text. Parsing them with a general library allocates
 * objects and arrays for every flow, so the hot path parses straight from the
 * string's character codes into a reusable {@link IpAddr}. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) is unmapped here, at the edge, so everything downstream
 * sees one IPv4 address in one form.
 */

export const FAMILY_NONE = 0;
export const FAMILY_V4 = 4;
export const FAMILY_V6 = 6;
export type Family = typeof FAMILY_NONE | typeof FAMILY_V4 | typeof FAMILY_V6;

/** A mutable address slot, filled in place so that no flow allocates one. */
export class IpAddr {
  family: Family = FAMILY_NONE;
  /** The IPv4 address as an unsigned 32-bit integer (family 4). */
  v4 = 0;
  /** The IPv6 address as four unsigned 32-bit words, most significant first (family 6). */
  readonly v6 = new Uint32Array(4);

  clear(): void {
    this.family = FAMILY_NONE;
    this.v4 = 0;
    this.v6.fill(0);
  }

  copyFrom(other: IpAddr): void {
    this.family = other.family;
    this.v4 = other.v4;
    this.v6.set(other.v6);
  }

  equals(other: IpAddr): boolean {
    if (this.family !== other.family) return false;
    if (this.family === FAMILY_V4) return this.v4 === other.v4;
    if (this.family === FAMILY_V6) {
      const a = this.v6;
      const b = other.v6;
      return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
    }
    return true;
  }
}

// Scratch space: IPv6 groups, and the bytes of a string being parsed. Parsing
// is synchronous, so one of each is enough.
const groups = new Uint16Array(8);
const textBytes = new Uint8Array(64);

/**
 * Parses `s` into `out`. Returns false (and leaves `out.family` 0) when `s` is
 * not an IPv4 or IPv6 address. An IPv6 zone (`%eth0`) is ignored.
 */
export function parseIpInto(s: string, out: IpAddr): boolean {
  out.family = FAMILY_NONE;
  const n = s.length;
  if (n > textBytes.length) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return false;
    textBytes[i] = c;
  }
  return parseIpBytes(textBytes, 0, n, out);
}

/** Parses the ASCII address in b[start, end) into `out`, straight from wire bytes. */
export function parseIpBytes(b: Uint8Array, start: number, end: number, out: IpAddr): boolean {
  out.family = FAMILY_NONE;
  let stop = end;
  for (let i = start; i < end; i++) {
    if (b[i] === 37 /* % */) {
      stop = i;
      break;
    }
  }
  if (stop === start) return false;
  for (let i = start; i < stop; i++) {
    if (b[i] === 58 /* : */) return parseV6(b, start, stop, out);
  }
  const v = parseV4(b, start, stop);
  if (v < 0) return false;
  out.family = FAMILY_V4;
  out.v4 = v;
  return true;
}

/** Dotted quad in b[from, to) as an unsigned integer, or -1. */
function parseV4(b: Uint8Array, from: number, to: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? b[i]! : 46; // a virtual '.' closes the last part
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || parts === 4) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function parseV6(b: Uint8Array, from: number, end: number, out: IpAddr): boolean {
  let n = 0; // groups written
  let gap = -1; // index in groups where '::' stands
  let i = from;
  if (b[from] === 58) {
    if (b[from + 1] !== 58) return false;
    gap = 0;
    i = from + 2;
    if (i === end) {
      groups.fill(0);
      return finishV6(out);
    }
  }
  while (i < end) {
    // One group: hex digits up to ':' or end, or a trailing dotted quad.
    let value = 0;
    let digits = 0;
    const start = i;
    while (i < end) {
      const h = hexValue(b[i]!);
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (i < end && b[i] === 46 /* . */) {
      // Embedded IPv4 in the last 32 bits.
      if (n > 6) return false;
      const v4 = parseV4(b, start, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    groups[n++] = value;
    if (i === end) break;
    if (b[i] !== 58) return false;
    i++;
    if (i < end && b[i] === 58) {
      if (gap >= 0) return false; // a second '::'
      gap = n;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false;
    // Move the groups after the gap to the end and zero the gap.
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  return finishV6(out);
}

function finishV6(out: IpAddr): boolean {
  const g = groups;
  // IPv4-mapped (::ffff:0:0/96) is an IPv4 address.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    out.family = FAMILY_V4;
    out.v4 = g[6]! * 65536 + g[7]!;
    return true;
  }
  const w = out.v6;
  w[0] = g[0]! * 65536 + g[1]!;
  w[1] = g[2]! * 65536 + g[3]!;
  w[2] = g[4]! * 65536 + g[5]!;
  w[3] = g[6]! * 65536 + g[7]!;
  out.family = FAMILY_V6;
  return true;
}

/** Text form of an IPv4 number. For labels and reports, never per flow. */
export function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text form of four IPv6 words. For labels and reports, never per flow. */
export function formatV6(w: ArrayLike<number>): string {
  const g: number[] = [];
  for (let k = 0; k < 4; k++) g.push(w[k]! >>> 16, w[k]! & 0xffff);
  // Longest run of two or more zero groups becomes '::'.
  let bestStart = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && g[j] === 0) j++;
    if (j - k > bestLen) {
      bestStart = k;
      bestLen = j - k;
    }
    k = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(a: IpAddr): string {
  if (a.family === FAMILY_V4) return formatV4(a.v4);
  if (a.family === FAMILY_V6) return formatV6(a.v6);
  return '';
}
