import type { IpamState } from '../../src/ipam/model.js';
import type { AddressInfo } from '../../src/ipam/snapshot.js';
import { IpAddr, parseIpInto } from '../../src/net/ip.js';
import { nthAddress, prefixSize, type Prefix } from '../../src/net/prefix.js';

/** Addresses that tell answers apart: each rule's first and last address and their neighbours outside, and addresses nothing holds. */
export function probes(state: IpamState): IpAddr[] {
  const out: IpAddr[] = [];
  const add = (ip: string) => {
    const a = new IpAddr();
    if (parseIpInto(ip, a)) out.push(a);
  };
  const edges = (p: Prefix) => {
    const size = prefixSize(p);
    for (const n of [0, 1, Math.min(size - 1, 7), size - 1]) add(nthAddress(p, n));
  };
  for (const list of [state.allocations, state.former]) for (const a of list) edges(a.cidr);
  for (const a of state.nodeAddresses) edges(a.ip);
  for (const p of state.pools) for (const c of p.cidrs) edges(c);
  for (const ip of ['10.0.0.1', '10.1.255.254', '10.2.0.1', '10.7.255.255', 'fd00:10:1:b::1', 'fd00:10:2::1', '8.8.8.8', '2001:db8::1']) add(ip);
  return out;
}

/** An answer's fields without its index (which depends on a builder's history). */
export const plainAnswer = (i: AddressInfo | undefined) => (i ? { status: i.status, pool: i.pool, node: i.node, cidr: i.cidr, detail: i.detail } : undefined);

