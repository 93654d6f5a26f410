/**
 * IpamSources fed as the live watch feeds them, for the IPAM and inventory
 * benchmarks: a stand-in watch whose `push(objects)` is KubeIpamWatch's
 * onChange, and a promise of the next published snapshot.
 */
import { IpamSources } from '../../dist/ipam/ipam-sources.js';

/** IpamSources on a stand-in watch: `push(objects)` is the watch's onChange. */
export async function liveSources(objects) {
  let push;
  const sources = new IpamSources({
    kube: (onChange) => {
      push = onChange;
      return { start() {}, ready: async () => push(objects), close: async () => {}, synced: true };
    },
  });
  sources.start(new AbortController().signal);
  await sources.ready();
  if (!sources.store.snapshot) throw new Error(`no IPAM state: ${sources.store.lastError?.message}`);
  return { sources, push: (o) => push(o) };
}

/** Resolves when `sources` publishes its next snapshot; a rejected state publishes nothing: says why instead of waiting forever. */
export const published = (sources) =>
  new Promise((resolve, reject) => {
    const errors = sources.store.errorCount;
    const off = sources.store.onChange(() => {
      off();
      clearInterval(check);
      resolve();
    });
    const check = setInterval(() => {
      if (sources.store.errorCount === errors) return;
      clearInterval(check);
      reject(new Error(`IPAM change rejected: ${sources.store.lastError?.message}`));
    }, 5);
  });
