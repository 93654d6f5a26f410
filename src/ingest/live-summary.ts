import type { RelayClient } from './relay-client.js';
import { NodeState } from '../gen/relay/relay_pb.js';

/**
 * One line that says how the stream is doing: state, flows and their rate,
 * lost events, replays dropped, decode errors and node states. Rewritten in
 * place on a terminal; printed as a new line otherwise.
 */
export class LiveSummary {
  private lastFlows = 0;
  private lastAt = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: RelayClient,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly extra: () => string = () => '',
  ) {}

  line(): string {
    const s = this.client.stats;
    const now = Date.now();
    const rate = ((s.flows - this.lastFlows) * 1000) / Math.max(1, now - this.lastAt);
    this.lastFlows = s.flows;
    this.lastAt = now;
    const lost = [...s.lostEvents.values()].reduce((a, b) => a + b, 0);
    const nodes = [...s.nodes.values()];
    const connected = nodes.filter((n) => n === NodeState.NODE_CONNECTED).length;
    const extra = this.extra();
    return (
      `relay=${this.client.state} flows=${s.flows} rate=${rate.toFixed(0)}/s lost=${lost} ` +
      `replays_dropped=${s.duplicates} decode_errors=${s.decodeErrors} nodes=${connected}/${nodes.length}` +
      (extra ? ` ${extra}` : '')
    );
  }

  start(intervalMs = 2000): void {
    const tty = this.out.isTTY === true;
    this.timer = setInterval(() => {
      const l = this.line();
      this.out.write(tty ? `\r\x1b[2K${l}` : `${l}\n`);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.out.isTTY) this.out.write('\n');
  }
}
