import { Verdict } from '../gen/flow/flow_pb.js';

/**
 * Verdict numbers as the per-flow counters keep them: a fixed number of slots
 * per attribution (series caches are arrays indexed by slot). Hubble's
 * verdicts are 0..7 today; a newer Hubble's unknown verdict keeps its own
 * number up to VERDICT_LAST_DISTINCT, and every number above it (or a
 * negative one) shares the overflow slot, labelled VERDICT_OVERFLOW_LABEL.
 * No number is ever counted as another verdict.
 */
export const VERDICT_SLOTS = 16;
/** The highest verdict number counted under its own number. */
export const VERDICT_LAST_DISTINCT = VERDICT_SLOTS - 2;
/** The slot shared by every verdict number above VERDICT_LAST_DISTINCT. */
export const VERDICT_OVERFLOW_SLOT = VERDICT_SLOTS - 1;
/** The `verdict` label of the overflow slot. */
export const VERDICT_OVERFLOW_LABEL = `${VERDICT_OVERFLOW_SLOT}+`;

/** The slot of a `flow.Verdict` number (see VERDICT_SLOTS). */
export function verdictSlot(v: number): number {
  return v >= 0 && v <= VERDICT_LAST_DISTINCT ? v : VERDICT_OVERFLOW_SLOT;
}

/** The label of a slot: the verdict's name, its number when Hubble's newer than us, or the overflow label. */
export function verdictSlotLabel(slot: number): string {
  if (slot === VERDICT_OVERFLOW_SLOT) return VERDICT_OVERFLOW_LABEL;
  return Verdict[slot] ?? String(slot);
}
