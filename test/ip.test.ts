import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { FAMILY_V4, FAMILY_V6, IpAddr, formatIp, formatV6, parseIpInto } from '../src/net/ip.js';
import { Rng } from '../src/sim/rng.js';

function words(bytes: number[]): number[] {
  const w: number[] = [];
  for (let k = 0; k < 16; k += 4) w.push(((bytes[k]! << 24) | (bytes[k + 1]! << 16) | (bytes[k + 2]! << 8) | bytes[k + 3]!) >>> 0);
  return w;
}

describe('numeric IP parsing', () => {
  it('agrees with ipaddr.js on 20,000 random IPv4 and IPv6 addresses in every text form', () => {
    const r = new Rng(42);
    const a = new IpAddr();
    for (let n = 0; n < 10_000; n++) {
      const v4 = r.u32();
      const text = ipaddr.fromByteArray([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]).toString();
      expect(parseIpInto(text, a)).toBe(true);
      expect([a.family, a.v4]).toEqual([FAMILY_V4, v4]);
      expect(formatIp(a)).toBe(text);

      // IPv6 with runs of zero groups, so that '::' compression is exercised.
      const bytes: number[] = [];
      for (let k = 0; k < 16; k++) bytes.push(r.next() < 0.4 ? 0 : r.int(256));
      if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) bytes[0] = 1; // not v4-mapped
      const v6 = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
      for (const form of [v6.toString(), v6.toNormalizedString(), (v6 as ipaddr.IPv6 & { toFixedLengthString(): string }).toFixedLengthString(), v6.toRFC5952String().toUpperCase()]) {
        expect(parseIpInto(form, a), form).toBe(true);
        expect(a.family).toBe(FAMILY_V6);
        expect([...a.v6], form).toEqual(words(bytes));
      }
      expect(formatV6(a.v6)).toBe(v6.toRFC5952String());
    }
  });

  it.each([
    ['10.244.1.2', FAMILY_V4, '10.244.1.2'],
    ['::ffff:10.244.1.2', FAMILY_V4, '10.244.1.2'], // IPv4-mapped is unmapped at the edge
    ['::FFFF:0a f4:0102'.replace(' ', ''), FAMILY_V4, '10.244.1.2'],
    ['fd00:10:244:1::b8a4', FAMILY_V6, 'fd00:10:244:1::b8a4'],
    ['fe80::1%eth0', FAMILY_V6, 'fe80::1'],
    ['::', FAMILY_V6, '::'],
    ['::1', FAMILY_V6, '::1'],
    ['1::', FAMILY_V6, '1::'],
    ['64:ff9b::192.0.2.33', FAMILY_V6, '64:ff9b::c000:221'],
  ])('parses %s', (text, family, back) => {
    const a = new IpAddr();
    expect(parseIpInto(text, a)).toBe(true);
    expect(a.family).toBe(family);
    expect(formatIp(a)).toBe(back);
  });

  it.each(['', ' ', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', '1..2.3', '1::2::3', ':1::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '12345::', '1:', '::1.2.3', 'a.b.c.d', '%eth0'])(
    'rejects %j',
    (text) => {
      const a = new IpAddr();
      expect(parseIpInto(text, a)).toBe(false);
      expect(a.family).toBe(0);
    },
  );
});
