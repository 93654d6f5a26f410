import type { ScenarioModel } from './scenario.js';

/**
 * One node's share of a scenario: which flow indexes that node's Hubble
 * agent observes, and how many of them come before an index, without
 * generating the flows (a few nanoseconds per index, so an agent of a long
 * or fast scenario can count its whole history).
 *
 * The observing node of flow i is `ScenarioModel.observerIndex(i)`, the rule
 * `flowAt` itself uses. The simulated relay still checks every flow it
 * generates for an agent (`agentFlowMismatch`), and test/agent-socket.test.ts
 * compares the two over whole scenarios.
 */
export class AgentShare {
  /** The node's name as Hubble sends it (`cluster/node`, Hubble's absolute node name). */
  readonly wireName: string;
  private readonly nodeIndex: number;
  // Local flows before index j, at slot j % span, for the last `span` indexes scanned.
  private readonly before: Float64Array;
  private readonly beforeAt: Float64Array;
  private readonly span: number;
  /** Indexes [0, scanned) are counted. */
  private scanned = 0;
  private localScanned = 0;

  constructor(
    private readonly model: ScenarioModel,
    /** A bare node name of the scenario. */
    readonly node: string,
    /** How many of the latest indexes `localBefore` answers for (the relay's buffer span). */
    window: number,
  ) {
    const names = model.scenario.nodes.map((n) => n.name);
    this.nodeIndex = names.indexOf(node);
    if (this.nodeIndex < 0) {
      throw new Error(`agent node ${JSON.stringify(node)} is not a node of the scenario; its nodes are: ${names.join(', ')}`);
    }
    this.wireName = model.wireNodeName(node);
    this.span = window + 1;
    this.before = new Float64Array(this.span);
    this.beforeAt = new Float64Array(this.span).fill(-1);
    this.beforeAt[0] = 0;
  }

  /** Whether this node observes flow i. */
  isLocal(i: number): boolean {
    return this.model.observerIndex(i) === this.nodeIndex;
  }

  /** This node's flows among indexes [0, i); i must be within `window` of the largest i asked so far. */
  localBefore(i: number): number {
    while (this.scanned < i) {
      if (this.isLocal(this.scanned)) this.localScanned++;
      this.scanned++;
      const slot = this.scanned % this.span;
      this.before[slot] = this.localScanned;
      this.beforeAt[slot] = this.scanned;
    }
    if (i === this.scanned) return this.localScanned;
    const slot = i % this.span;
    if (this.beforeAt[slot] !== i) throw new RangeError(`agent share: index ${i} is older than the ${this.span - 1} indexes kept (counted up to ${this.scanned})`);
    return this.before[slot]!;
  }

  /**
   * The first index of the last `count` flows of this node in [oldest, end)
   * that `pass` accepts (all of them when undefined); `oldest` when there
   * are fewer.
   */
  startOfLast(count: number, oldest: number, end: number, pass?: (i: number) => boolean): number {
    let found = 0;
    for (let i = end - 1; i >= oldest; i--) {
      if (!this.isLocal(i) || (pass !== undefined && !pass(i))) continue;
      if (++found === count) return i;
    }
    return oldest;
  }
}
