import { describe, expect, it } from 'vitest';
import { ResumeWindow } from '../src/ingest/resume-window.js';
import { Backoff } from '../src/util/backoff.js';

describe('resume window', () => {
  it('asks for the overlap before the newest event and drops exactly the replays', () => {
    const w = new ResumeWindow(100);
    const a = w.streamId('node-a');
    const b = w.streamId('node-b');
    // Ten events per node at 100 ms spacing; node-b's at the same instants.
    for (let i = 0; i < 10; i++) {
      expect(w.admit(1000 + Math.floor(i / 10), (i % 10) * 1e8, a, 0)).toBe(false);
      expect(w.admit(1000 + Math.floor(i / 10), (i % 10) * 1e8, b, 0)).toBe(false);
    }
    expect(w.newest).toEqual({ seconds: 1000, nanos: 9e8 });
    expect(w.beginReplay(500)).toEqual({ seconds: 1000, nanos: 4e8 });
    // The relay replays 1000.4 .. 1000.9 for both nodes (node-a's 1000.9 comes late): all recognised.
    let dropped = 0;
    for (let i = 4; i < 10; i++) {
      if (i < 9 && w.admit(1000, i * 1e8, a, 0)) dropped++;
      if (w.admit(1000, i * 1e8, b, 0)) dropped++;
    }
    expect(dropped).toBe(11);
    // A flow at an old instant that was never delivered (a third node) is new.
    expect(w.admit(1000, 5e8, w.streamId('node-c'), 0)).toBe(false);
    // New events pass, and a replay that arrives late is still caught…
    expect(w.admit(1001, 0, a, 0)).toBe(false);
    expect(w.admit(1000, 9e8, a, 0)).toBe(true);
    // …but only as many times as it was delivered: one more at that instant is a new flow.
    expect(w.admit(1000, 9e8, a, 0)).toBe(false);
    // Far past the old newest, the replay lookup is released.
    w.admit(1003, 0, a, 0);
    expect(w.replaying).toBe(false);
  });

  it('matches by uuid when the flow has one, whatever its node', () => {
    const w = new ResumeWindow(10);
    w.admit(5, 1, w.streamId('x'), 101);
    w.admit(5, 2, w.streamId('x'), 102);
    w.beginReplay(2000);
    expect(w.admit(5, 1, w.streamId('y'), 101)).toBe(true);
    expect(w.admit(5, 1, w.streamId('x'), 103)).toBe(false);
  });

  it('never resumes at or before an event it has forgotten', () => {
    const w = new ResumeWindow(4);
    const s = w.streamId('n');
    for (let i = 0; i < 10; i++) w.admit(100, i, s, 0); // 6 forgotten, newest forgotten is nanos 5
    expect(w.beginReplay(60_000)).toEqual({ seconds: 100, nanos: 6 });
    for (let i = 6; i < 10; i++) expect(w.admit(100, i, s, 0)).toBe(true);
  });

  it('drops only as many uuid-less replays of one time on one node as were delivered', () => {
    const w = new ResumeWindow(100);
    const s = w.streamId('node-a');
    const other = w.streamId('node-b');
    for (let i = 0; i < 20; i++) expect(w.admit(100, 7, s, 0)).toBe(false); // 20 of 50 delivered before the cut
    w.admit(100, 7, other, 0);
    expect(w.beginReplay(2000)).toEqual({ seconds: 98, nanos: 7 });
    let dropped = 0;
    for (let i = 0; i < 50; i++) if (w.admit(100, 7, s, 0)) dropped++;
    expect(dropped).toBe(20);
    expect(w.admit(100, 7, other, 0)).toBe(true);
    expect(w.admit(100, 7, other, 0)).toBe(false);
  });

  it('remembers a future-stamped event for replay but lets it move neither the resume point nor the replay end', () => {
    const w = new ResumeWindow(100);
    const s = w.streamId('node-a');
    const skewed = w.streamId('node-skewed');
    for (let i = 0; i < 10; i++) w.admit(100, i, s, 0);
    w.admit(3700, 0, skewed, 0, true); // an hour ahead
    for (let i = 10; i < 20; i++) w.admit(100, i, s, 0);
    expect(w.newest).toEqual({ seconds: 100, nanos: 19 });
    expect(w.beginReplay(2000)).toEqual({ seconds: 98, nanos: 19 });
    // The replay, in arrival order: the future one in the middle is recognised and does not end the replay.
    let dropped = 0;
    for (let i = 0; i < 10; i++) if (w.admit(100, i, s, 0)) dropped++;
    if (w.admit(3700, 0, skewed, 0, true)) dropped++;
    expect(w.replaying).toBe(true);
    for (let i = 10; i < 20; i++) if (w.admit(100, i, s, 0)) dropped++;
    expect(dropped).toBe(21);
    // Forgetting a future event does not push the resume point to its time.
    const small = new ResumeWindow(3);
    const t = small.streamId('n');
    small.admit(3700, 0, t, 0, true);
    for (let i = 1; i <= 3; i++) small.admit(100, i, t, 0);
    expect(small.beginReplay(0)).toEqual({ seconds: 100, nanos: 3 });
  });

  it('recognises a future-stamped event replayed after newer on-time ones (Relay sends by time), once', () => {
    const w = new ResumeWindow(100);
    const s = w.streamId('node-a');
    const skewed = w.streamId('node-skewed');
    for (const t of [98, 99, 100]) w.admit(t, 0, s, 0);
    w.admit(1000, 0, skewed, 0, true);
    expect(w.beginReplay(2000)).toEqual({ seconds: 98, nanos: 0 });
    const seen = (t: number, stream: number, future = false) => (w.admit(t, 0, stream, 0, future) ? 'dropped' : 'new');
    // The replay in Relay's order: the three on-time ones, two newer ones (past the overlap), then the skewed one.
    expect([98, 99, 100].map((t) => seen(t, s))).toEqual(['dropped', 'dropped', 'dropped']);
    expect([101, 104].map((t) => seen(t, s))).toEqual(['new', 'new']);
    expect(w.replaying).toBe(true);
    expect(seen(1000, skewed, true)).toBe('dropped');
    // Matched once: the lookup ends with the next on-time event past the overlap, and a second copy is new.
    expect(seen(105, s)).toBe('new');
    expect(w.replaying).toBe(false);
    expect(seen(1000, skewed, true)).toBe('new');
  });

  it('a forgotten future-stamped event that on-time events have since overtaken moves the resume point', () => {
    const w = new ResumeWindow(3);
    const t = w.streamId('n');
    w.admit(105, 0, t, 0, true); // ahead of the clock when it came
    for (const sec of [106, 107, 108]) w.admit(sec, 0, t, 0); // the clock caught up; the third push forgets it
    // Resuming 2 s before 108 would start at 106 > 105: fine either way; with a 5 s overlap it must not start at or before 105.
    expect(w.beginReplay(5000)).toEqual({ seconds: 105, nanos: 1 });
  });

  it('starts nowhere before anything was delivered', () => {
    expect(new ResumeWindow(4).beginReplay(1000)).toBeUndefined();
  });
});

describe('backoff', () => {
  it('grows by the multiplier up to the cap, jittered within bounds, and resets', () => {
    const mid = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 }, () => 0.5);
    expect([1, 2, 3, 4, 5, 6].map(() => mid.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    mid.reset();
    expect(mid.next()).toBe(100);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 }, () => 0);
    expect([low.next(), low.next()]).toEqual([80, 160]);
    const high = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.2 }, () => 0.999999);
    expect(high.next()).toBe(120);
    expect(() => new Backoff({ initialMs: 0 })).toThrow('invalid backoff: initialMs=0');
  });
});
