import { IdTable } from '../util/id-table.js';

/**
 * Observing nodes that get an id of their own at most: a cluster of more
 * nodes than this shares the last id among the rest (their per-node figures
 * merge; the sums stay right). Cilium supports 5,000 nodes per cluster.
 */
export const MAX_OBSERVING_NODES = 65_536;

/**
 * Dense ids for the nodes flows are observed on (a flow's `node_name`, as
 * Hubble sends it: `cluster/node`). Per flow one map lookup of a string the
 * decoder already holds; a new node costs one entry. Id 0 is "not named"
 * (a flow without node_name).
 */
export class ObservingNodes {
  private readonly table = new IdTable<string>(MAX_OBSERVING_NODES, 'observing node ids (MAX_OBSERVING_NODES)');
  /** The last name asked for and its id: a per-node exporter (and a run of one node's flows) asks for one name. */
  private lastName = '';
  private lastId = 0;

  constructor() {
    this.table.idOf('');
  }

  idOf(name: string): number {
    if (name === this.lastName) return this.lastId;
    let id = this.table.find(name);
    if (id === undefined) id = this.table.size < MAX_OBSERVING_NODES ? this.table.idOf(name) : MAX_OBSERVING_NODES - 1;
    this.lastName = name;
    this.lastId = id;
    return id;
  }

  /** The wire name of an id ('' for 0). */
  nameOf(id: number): string {
    return this.table.keyOf(id) ?? '';
  }

  get size(): number {
    return this.table.size;
  }
}
