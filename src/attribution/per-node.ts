/**
 * A value per observing node (the trackers' per-node maps), made on first
 * use. The last node asked for is remembered: a per-node exporter, or a run
 * of one node's flows, costs one comparison instead of a Map lookup.
 */
export class PerNode<T> {
  private readonly byId = new Map<number, T>();
  private lastId = -1;
  private last: T | undefined;

  constructor(private readonly make: () => T) {}

  /** The node's value, made if it has none. */
  of(nodeId: number): T {
    if (nodeId === this.lastId) return this.last!;
    let v = this.byId.get(nodeId);
    if (v === undefined) {
      v = this.make();
      this.byId.set(nodeId, v);
    }
    this.lastId = nodeId;
    this.last = v;
    return v;
  }

  /** Forgets a node's value (safe while iterating `entries()`). */
  delete(nodeId: number): void {
    this.byId.delete(nodeId);
    if (nodeId === this.lastId) {
      this.lastId = -1;
      this.last = undefined;
    }
  }

  entries(): IterableIterator<[number, T]> {
    return this.byId.entries();
  }

  values(): IterableIterator<T> {
    return this.byId.values();
  }
}
