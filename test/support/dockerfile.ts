/** A Dockerfile's instructions and stages, and .dockerignore's rule, read as Docker reads them. */
import { posix } from 'node:path';


export interface Instruction {
  op: string;
  args: string;
}

export function dockerInstructions(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = l.match(/^(\w+)\s+(.*)$/);
      if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(l)}`);
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

export function dockerStages(text: string): Array<{ from: string; name?: string; body: Instruction[] }> {
  const stages: Array<{ from: string; name?: string; body: Instruction[] }> = [];
  for (const ins of dockerInstructions(text)) {
    if (ins.op === 'FROM') {
      const m = ins.args.match(/^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i);
      if (!m) throw new Error(`Dockerfile: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), body: [] });
    } else {
      if (!stages.length) {
        if (ins.op === 'ARG') continue;
        throw new Error(`Dockerfile: ${ins.op} before FROM`);
      }
      stages.at(-1)!.body.push(ins);
    }
  }
  return stages;
}

/** Whether .dockerignore keeps `path` (relative to the context) out of the build context: the last matching pattern wins, `!` re-includes. */
export function dockerIgnored(patterns: string[], path: string): boolean {
  const toRegExp = (p: string) =>
    new RegExp(
      `^${p
        .replace(/^\/+|\/+$/g, '')
        .split('')
        .map((ch, i, all) => {
          if (ch === '*' && all[i + 1] === '*') return '';
          if (ch === '*' && all[i - 1] === '*') return '.*';
          if (ch === '*') return '[^/]*';
          if (ch === '?') return '[^/]';
          return ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('')}$`,
    );
  // A path is matched when it, or a folder above it, matches.
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegExp(posix.normalize(negate ? raw.slice(1) : raw));
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}
