import { RateLimitedLog, type Logger } from '../log.js';

/**
 * Per-node mode's guard: every flow must come from the exporter's own node.
 * A flow from another node means --relay-address reaches Hubble Relay (or
 * another node's agent), not this node's agent: every per-node exporter then
 * counts the whole cluster and their sums are too large. Warned (at most
 * every 10 s, naming both nodes), not dropped: what was asked for is counted.
 * The pipeline runs it on every flow (not a handler: it owns no metric):
 * one comparison of the observing node's id with the last one seen to be the
 * own node.
 */
export class OwnNodeCheck {
  private ownId = -1;
  private readonly warn: RateLimitedLog;
  /** Flows seen from another node. */
  others = 0;

  constructor(
    /** The bare node name (`--node-name`). */
    private readonly node: string,
    /** Wire name of an observing node id (AttributionPipeline.observingNodes). */
    private readonly nameOf: (id: number) => string,
    logger: Logger,
  ) {
    this.warn = new RateLimitedLog((m, f) => logger.warn(m, f));
  }

  check(nodeId: number): void {
    if (nodeId === this.ownId) return;
    const wire = this.nameOf(nodeId);
    const bare = wire.slice(wire.indexOf('/') + 1);
    if (bare === this.node) {
      this.ownId = nodeId;
      return;
    }
    this.others++;
    this.warn.emit('a flow from another node reached this per-node exporter: --relay-address must be this node\'s agent (unix:///var/run/cilium/hubble.sock), not Hubble Relay, or the per-node sums count the cluster several times', {
      node: this.node,
      flowFrom: wire,
      flowsFromOtherNodes: this.others,
    });
  }
}
