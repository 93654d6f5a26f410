import { describe, expect, it } from 'vitest';
import { MigrationTracker } from '../src/attribution/migration.js';

describe('migration progress', () => {
  it('counts workloads that were on a draining pool and are off it within the window', () => {
    const m = new MigrationTracker(60);
    const a = MigrationTracker.key(1001, 'shop', 'a-1');
    const b = MigrationTracker.key(1002, 'shop', 'b-1');
    const c = MigrationTracker.key(0, 'shop', 'standalone'); // no cluster identity: keyed by pod
    for (const k of [a, b, c]) m.record(k, 3, 100); // all on pool 3
    m.record(a, 0, 150); // a restarted onto a current pool
    m.record(b, 3, 150); // b still on the draining pool
    m.record(c, 0, 150);
    m.record(c, 7, 150); // c on another draining pool (7): it moved off 3, not off 7
    expect(m.progress([3, 7], 170)).toEqual([
      { poolId: 3, everOn: 3, active: 3, moved: 2, ratio: 2 / 3 },
      { poolId: 7, everOn: 1, active: 1, moved: 0, ratio: 0 },
    ]);
    // Later (window 165..225): b moved too; a and c were last seen at 150, outside the window.
    m.record(b, 0, 220);
    expect(m.progress([3], 225)[0]).toEqual({ poolId: 3, everOn: 3, active: 1, moved: 1, ratio: 1 });
    // Long after, nobody that was on it is active: done.
    expect(m.progress([3], 10_000)[0]).toEqual({ poolId: 3, everOn: 3, active: 0, moved: 0, ratio: 1 });
    expect(m.progress([5], 170)[0]).toEqual({ poolId: 5, everOn: 0, active: 0, moved: 0, ratio: 1 });
  });
});
