/** CPU-profiles one stretch of code in-process (node:inspector), written as a .cpuprofile. */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

export async function profiled(file, fn) {
  if (!file) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  }
}

/**
 * Starts V8's sampling heap profiler counting every allocation, also those
 * the GC has collected since (so it shows the garbage per flow, not only
 * what is retained). Returns `stop(file)`, which writes a .heapprofile.
 */
export async function startHeapSampling() {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async (file) => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
