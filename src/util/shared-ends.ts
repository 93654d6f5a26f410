/**
 * How many items two lists share at their head and at their tail, compared
 * by identity (`===`), the tail not overlapping the head. A source that
 * changed a few items hands over lists that differ only between the two: what
 * lies there is all that changed, found with one pointer compare per
 * unchanged item.
 */
export function sharedEnds<T>(prev: readonly T[], next: readonly T[]): { head: number; tail: number } {
  const max = Math.min(prev.length, next.length);
  let head = 0;
  while (head < max && prev[head] === next[head]) head++;
  let tail = 0;
  while (tail < max - head && prev[prev.length - 1 - tail] === next[next.length - 1 - tail]) tail++;
  return { head, tail };
}
