/**
 * No import runs in a circle between the folders of src/: each folder (and
 * each file directly in src/, e.g. `service`, `cli`) is a node, every
 * relative import from one to another an edge, and the graph must have no
 * cycle. Generated code (src/gen) is a leaf and left out. Type-only imports
 * count: they tie the folders together as much as the others.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return relative(SRC, p) === 'gen' ? [] : tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** `attribution` for src/attribution/x/y.ts, `service` for src/service.ts. */
function nodeOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
}

/** Every relative module specifier of a source file: import/export … from, import(), side-effect import. */
export function relativeImports(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;
  for (const m of source.matchAll(re)) out.push(m[2]!);
  return out;
}

/** Folder → folders it imports from. */
export function folderGraph(files: Array<{ path: string; source: string }>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const f of files) {
    const from = nodeOf(f.path);
    const edges = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    for (const spec of relativeImports(f.source)) {
      const target = resolve(dirname(f.path), spec);
      if (relative(SRC, target).startsWith('..')) continue;
      const to = nodeOf(target.replace(/\.js$/, '.ts'));
      if (to !== from && to !== 'gen') edges.add(to);
    }
  }
  return graph;
}

/** Every elementary cycle found by a depth-first search, each as `a -> b -> a` (empty: none). */
export function cycles(graph: Map<string, Set<string>>): string[] {
  const found = new Set<string>();
  const visit = (node: string, path: string[]) => {
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      const at = path.indexOf(next);
      if (at >= 0) {
        const loop = path.slice(at);
        // One name per cycle whatever node it was entered from: rotate to the smallest.
        const start = loop.indexOf([...loop].sort()[0]!);
        const norm = [...loop.slice(start), ...loop.slice(0, start)];
        found.add([...norm, norm[0]].join(' -> '));
      } else visit(next, [...path, next]);
    }
  };
  for (const n of [...graph.keys()].sort()) visit(n, [n]);
  return [...found].sort();
}

describe('import graph of src/', () => {
  it('finds the cycles it is meant to find (the checker itself)', () => {
    const g = folderGraph([
      { path: join(SRC, 'a/x.ts'), source: "import { y } from '../b/y.js';\nimport type { Z } from '../c/z.js';" },
      { path: join(SRC, 'b/y.ts'), source: "export { x } from '../a/x.js';" },
      { path: join(SRC, 'c/z.ts'), source: "const m = await import('../d/w.js');" },
      { path: join(SRC, 'd/w.ts'), source: "import '../gen/g.js';\nimport { v } from './v.js';\nimport fastify from 'fastify';" },
      { path: join(SRC, 'service.ts'), source: "import { a } from './a/x.js';" },
    ]);
    expect(Object.fromEntries([...g].map(([k, v]) => [k, [...v].sort()]))).toEqual({ a: ['b', 'c'], b: ['a'], c: ['d'], d: [], service: ['a'] });
    expect(cycles(g)).toEqual(['a -> b -> a']);
    g.get('d')!.add('service');
    expect(cycles(g)).toEqual(['a -> b -> a', 'a -> c -> d -> service -> a']);
  });

  it('has no cycle between folders', () => {
    const files = tsFiles(SRC).map((path) => ({ path, source: readFileSync(path, 'utf8') }));
    expect(files.length).toBeGreaterThan(50);
    const graph = folderGraph(files);
    // The folders the exporter is built from are all there (a parse that found nothing would pass vacuously).
    for (const folder of ['attribution', 'ingest', 'ipam', 'metrics', 'server', 'service']) expect(graph.has(folder), folder).toBe(true);
    expect(graph.get('service')!.size).toBeGreaterThan(3);
    expect(cycles(graph), `folder cycles:\n${cycles(graph).join('\n')}`).toEqual([]);
  });
});
