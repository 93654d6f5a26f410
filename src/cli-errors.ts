import type { Command, CommanderError } from 'commander';

/** Most edits between a typo and the name it suggests. */
const MAX_SUGGEST_EDITS = 2;

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** ` (Did you mean x?)` for the names `word` starts, or the nearest within a couple of edits; '' when none. */
export function suggestion(word: string, names: string[]): string {
  let best = names.filter((n) => n.startsWith(word) && n !== word);
  if (best.length === 0) {
    let min = MAX_SUGGEST_EDITS + 1;
    for (const n of names) {
      const d = editDistance(word, n);
      if (d < min) [min, best] = [d, [n]];
      else if (d === min) best.push(n);
    }
  }
  if (best.length === 0) return '';
  return best.length === 1 ? ` (Did you mean ${best[0]}?)` : ` (Did you mean one of ${best.join(', ')}?)`;
}

/**
 * The one line to print for a commander error. `active` is the subcommand
 * that was running (the default one, `serve`, when none was named).
 */
export function commanderErrorLine(e: CommanderError, program: Command, active: Command): string {
  const named = program.args[0] === active.name();
  const first = program.args[0];
  const typo = !named && active !== program && first !== undefined && !first.startsWith('-');
  if ((e.code === 'commander.excessArguments' || e.code === 'commander.unknownOption') && typo) {
    const names = program.commands.map((c) => c.name());
    return `error: unknown command '${first}'${suggestion(first, names) || ` (commands: ${names.join(', ')})`}`;
  }
  if (e.code === 'commander.excessArguments') {
    const extra = active.args[0] ?? '';
    return `error: unexpected argument '${extra}' for '${active.name()}': it takes options only (see ${active.name()} --help)`;
  }
  if (e.code === 'commander.unknownOption') {
    const flag = e.message.match(/unknown option '([^']+)'/)?.[1] ?? '';
    const longs = active.options.map((o) => o.long).filter((l): l is string => l !== undefined);
    return `error: unknown option '${flag}' for '${active.name()}'${suggestion(flag, longs)}`;
  }
  // Commander puts its own "(Did you mean …?)" on a second line.
  return e.message.replace(/\n(?=\(Did you mean)/, ' ').replace(/\n/g, ' ');
}
