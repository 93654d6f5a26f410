/**
 * Dense small ids for keys (pool names, metric label sets): the first key
 * gets 0, the next 1, and a key keeps its id for the table's life. A table
 * may have a limit (a packed layout that holds only so many ids): taking one
 * more id is an error that names the limit and what it protects, never a
 * silent reuse of an id.
 */
export class IdTable<K> {
  private readonly ids = new Map<K, number>();
  private readonly keys: K[] = [];

  constructor(
    /** Ids the table hands out at most. Default: no limit. */
    readonly limit = Infinity,
    /** What an id is, for the error past the limit: `pool ids (MAX_POOL_IDS)`. */
    readonly what = 'ids',
  ) {}

  /** The id of `key`, or undefined when it has none (never creates one). */
  find(key: K): number | undefined {
    return this.ids.get(key);
  }

  /** The id of `key`, created on first use. Throws past the limit. */
  idOf(key: K): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.keys.length;
      if (id >= this.limit) throw new RangeError(`${String(key)} would be id ${id}, but ${this.what} hold ${this.limit} at most`);
      this.ids.set(key, id);
      this.keys.push(key);
    }
    return id;
  }

  /** The key of an id (index = id). */
  keyOf(id: number): K | undefined {
    return this.keys[id];
  }

  /** Every key, by id. */
  all(): readonly K[] {
    return this.keys;
  }

  get size(): number {
    return this.keys.length;
  }
}
