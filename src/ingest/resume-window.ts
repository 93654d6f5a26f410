/**
 * Remembers the most recent events delivered downstream so that a stream can
 * resume after a reconnect without gaps and without counting anything twice.
 *
 * On reconnect the client asks the relay for everything since a point a
 * little before the newest event it delivered (Relay merges many nodes and
 * their flows do not arrive in strict time order), and drops every replayed
 * event it remembers: the same uuid (by its hash) when the flow has one, else the same time
 * on the same node. Events without uuid that share a time on one node are
 * counted: a replay drops only as many of them as were delivered. The resume
 * point is never older than the oldest event still remembered, so every
 * replayed event can be recognised.
 *
 * An event the caller marks as stamped in the future (a node with a wrong
 * clock, see FutureGuard) is remembered for replay detection but moves
 * neither the resume point nor the end of the replay.
 *
 * Per event this writes a few numbers into typed arrays; the lookup sets are
 * built only once per reconnect.
 */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

// Seconds are folded modulo 2^21 (~24 days) so that seconds and nanos fit one
// exact double; two events in one replay window are never 24 days apart.
const FOLD = 2 ** 21;
function timeKey(seconds: number, nanos: number): number {
  return (seconds % FOLD) * 1e9 + nanos;
}

function before(aS: number, aN: number, bS: number, bN: number): boolean {
  return aS < bS || (aS === bS && aN < bN);
}

export class ResumeWindow {
  private readonly secs: Float64Array;
  private readonly nanos: Int32Array;
  private readonly streams: Int32Array;
  private readonly uuids: Float64Array;
  private readonly futures: Uint8Array;
  private size = 0;
  private head = 0; // next write position
  private readonly streamIds = new Map<string, number>();

  private newestS = 0;
  private newestN = 0;
  private hasNewest = false;
  // The newest time among events pushed out of memory.
  private evictedS = 0;
  private evictedN = 0;
  private hasEvicted = false;

  // Replay state, set by beginReplay().
  private replayUntilS = 0;
  private replayUntilN = 0;
  private replayEndS = 0;
  // Per stream: time key → events delivered at that time not yet replayed.
  private replayByTime: Array<Map<number, number> | undefined> | undefined;
  private replayByUuid: Set<number> | undefined;
  // Future-stamped events in the lookup after replayUntil: while any remains unmatched, every
  // event is checked (Relay sends them after the newer on-time ones), until on-time events pass
  // the newest of them by the overlap (replayFutureEndS).
  private replayFutures = 0;
  private replayFutureEndS = -Infinity;

  /** @param capacity events remembered; the resume overlap is bounded by it. */
  constructor(readonly capacity = 262_144) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`resume memory must be a positive integer, got ${capacity}`);
    this.secs = new Float64Array(capacity);
    this.nanos = new Int32Array(capacity);
    this.streams = new Int32Array(capacity);
    this.uuids = new Float64Array(capacity);
    this.futures = new Uint8Array(capacity);
  }

  /** A small integer per event stream (a node's flows, a node's lost events). */
  streamId(name: string): number {
    let id = this.streamIds.get(name);
    if (id === undefined) {
      id = this.streamIds.size;
      this.streamIds.set(name, id);
    }
    return id;
  }

  get newest(): Timestamp | undefined {
    return this.hasNewest ? { seconds: this.newestS, nanos: this.newestN } : undefined;
  }

  /** True while replayed events may still arrive. */
  get replaying(): boolean {
    return this.replayByTime !== undefined;
  }

  /**
   * Checks one event (`uuid` is the uuid's hash, 0 for none; `future` when it
   * is stamped ahead of the clock). Returns true when it is a replay of an
   * event already delivered (drop it); otherwise remembers it and returns false.
   */
  admit(seconds: number, nanos: number, stream: number, uuid: number, future = false): boolean {
    if (this.replayByTime !== undefined) {
      // At or before the newest event delivered before the reconnect, a replay is possible.
      const late = before(this.replayUntilS, this.replayUntilN, seconds, nanos);
      if ((!late || future || this.replayFutures > 0) && this.replayed(seconds, nanos, stream, uuid)) {
        // Past replayUntil only future-stamped events were delivered: one fewer left to wait for.
        if (late) this.replayFutures--;
        return true;
      }
      if (late && !future && seconds > this.replayEndS && (this.replayFutures <= 0 || seconds > this.replayFutureEndS)) this.endReplay();
    }
    this.remember(seconds, nanos, stream, uuid, future);
    return false;
  }

  /** True, and one delivered event fewer left to match, when the event was delivered before. */
  private replayed(seconds: number, nanos: number, stream: number, uuid: number): boolean {
    if (uuid !== 0) return this.replayByUuid!.delete(uuid);
    const times = this.replayByTime![stream];
    if (times === undefined) return false;
    const k = timeKey(seconds, nanos);
    const left = times.get(k);
    if (left === undefined) return false;
    if (left === 1) times.delete(k);
    else times.set(k, left - 1);
    return true;
  }

  private remember(seconds: number, nanos: number, stream: number, uuid: number, future: boolean): void {
    const i = this.head;
    // A forgotten event moves the resume point's floor, unless it is still ahead of every on-time one.
    if (this.size === this.capacity && (this.futures[i] === 0 || !before(this.newestS, this.newestN, this.secs[i]!, this.nanos[i]!))) {
      const s = this.secs[i]!;
      const n = this.nanos[i]!;
      if (!this.hasEvicted || before(this.evictedS, this.evictedN, s, n)) {
        this.evictedS = s;
        this.evictedN = n;
        this.hasEvicted = true;
      }
    }
    this.secs[i] = seconds;
    this.nanos[i] = nanos;
    this.streams[i] = stream;
    this.uuids[i] = uuid;
    this.futures[i] = future ? 1 : 0;
    this.head = i + 1 === this.capacity ? 0 : i + 1;
    if (this.size < this.capacity) this.size++;
    if (future) return;
    if (!this.hasNewest || before(this.newestS, this.newestN, seconds, nanos)) {
      this.newestS = seconds;
      this.newestN = nanos;
      this.hasNewest = true;
    }
  }

  /**
   * Where the next request should start (`since`), or undefined when nothing
   * (but future-stamped events) was delivered yet. Prepares the replay lookup
   * for the events at or after that point.
   */
  beginReplay(overlapMs: number): Timestamp | undefined {
    if (!this.hasNewest) {
      // Only future-stamped events, if any: recognise them should they come again.
      if (this.size > 0) this.buildLookup(-Infinity, 0, overlapMs);
      return undefined;
    }
    const overlapNs = Math.round(overlapMs * 1e6);
    let sinceS = this.newestS - Math.floor(overlapNs / 1e9);
    let sinceN = this.newestN - (overlapNs % 1e9);
    if (sinceN < 0) {
      sinceN += 1e9;
      sinceS -= 1;
    }
    // Never at or before an event that was forgotten: a replay of it could
    // not be recognised. Start just after the newest forgotten one instead.
    if (this.hasEvicted && !before(this.evictedS, this.evictedN, sinceS, sinceN)) {
      sinceS = this.evictedS;
      sinceN = this.evictedN + 1;
      if (sinceN === 1e9) {
        sinceS += 1;
        sinceN = 0;
      }
    }
    this.buildLookup(sinceS, sinceN, overlapMs);
    return { seconds: sinceS, nanos: sinceN };
  }

  private buildLookup(sinceS: number, sinceN: number, overlapMs: number): void {
    const byTime: Array<Map<number, number> | undefined> = [];
    const byUuid = new Set<number>();
    let futures = 0;
    let newestFutureS = -Infinity;
    for (let k = 0; k < this.size; k++) {
      const s = this.secs[k]!;
      const n = this.nanos[k]!;
      if (before(s, n, sinceS, sinceN)) continue;
      if (this.futures[k] === 1 && (!this.hasNewest || before(this.newestS, this.newestN, s, n))) {
        futures++;
        if (s > newestFutureS) newestFutureS = s;
      }
      const u = this.uuids[k]!;
      if (u !== 0) byUuid.add(u);
      else {
        const times = (byTime[this.streams[k]!] ??= new Map());
        const key = timeKey(s, n);
        times.set(key, (times.get(key) ?? 0) + 1);
      }
    }
    this.replayByTime = byTime;
    this.replayByUuid = byUuid;
    this.replayFutures = futures;
    this.replayUntilS = this.hasNewest ? this.newestS : -Infinity;
    this.replayUntilN = this.hasNewest ? this.newestN : 0;
    // Replays stop being possible once events come from well past the old newest.
    this.replayEndS = this.hasNewest ? this.newestS + Math.ceil(overlapMs / 1000) + 1 : -Infinity;
    this.replayFutureEndS = futures > 0 ? newestFutureS + Math.ceil(overlapMs / 1000) + 1 : -Infinity;
  }

  endReplay(): void {
    this.replayByTime = undefined;
    this.replayByUuid = undefined;
    this.replayFutures = 0;
    this.replayFutureEndS = -Infinity;
  }
}
