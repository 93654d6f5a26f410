/** The Dockerfile and .dockerignore: build stage, non-root runtime, build context, and the pruned image's packages. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PORT } from './support/deploy-layout.js';
import { dockerIgnored, dockerStages } from './support/dockerfile.js';
import { repoRoot as root } from './support/paths.js';

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stages = dockerStages(dockerfile);
  const final = stages.at(-1)!;
  const finalOps = (op: string) => final.body.filter((i) => i.op === op);

  it('builds in node:24-bookworm-slim (a Node.js LTS in support) with npm ci, npm run build and npm prune --omit=dev, and runs on distroless nodejs24', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0]!;
    expect(build.from).toBe('node:24-bookworm-slim');
    expect(final.from).toBe('gcr.io/distroless/nodejs24-debian12:nonroot');
    const runs = build.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) expect(runs).toContain(step);
    expect(runs.indexOf('npm ci')).toBeLessThan(runs.indexOf('npm run build'));
    expect(runs.indexOf('npm run build')).toBeLessThan(runs.indexOf('npm prune --omit=dev'));
  });

  it('runs as a non-root user with an ENTRYPOINT that starts dist/cli.js, serve by default, on port 9967', () => {
    const user = finalOps('USER').at(-1)?.args;
    const nonrootBase = /:nonroot(@|$)/.test(final.from);
    expect(user !== undefined || nonrootBase, 'a USER or a :nonroot base').toBe(true);
    if (user !== undefined) expect(user.split(':')[0], 'USER').not.toMatch(/^(root|0)$/);
    const entrypoint = JSON.parse(finalOps('ENTRYPOINT').at(-1)?.args ?? 'null') as string[] | null;
    expect(entrypoint, 'ENTRYPOINT in exec form').toBeInstanceOf(Array);
    // Distroless images have node at /nodejs/bin/node, not on PATH.
    expect(entrypoint).toEqual([final.from.startsWith('gcr.io/distroless/nodejs') ? '/nodejs/bin/node' : 'node', '/app/dist/cli.js']);
    expect(JSON.parse(finalOps('CMD').at(-1)?.args ?? 'null')).toEqual(['serve']);
    expect(finalOps('EXPOSE').map((i) => i.args)).toEqual([String(PORT)]);
    // /app/dist/cli.js is what the build stage built.
    const workdir = finalOps('WORKDIR').at(-1)?.args ?? '/';
    const copied = finalOps('COPY')
      .filter((i) => i.args.startsWith(`--from=${stages[0]!.name}`))
      .map((i) => posix.resolve(workdir, i.args.split(/\s+/).at(-1)!));
    expect(copied).toEqual(expect.arrayContaining(['/app/dist', '/app/node_modules', '/app/package.json']));
  });

  it('copies from the build context only files .dockerignore keeps, and keeps out node_modules, dist and .git', () => {
    const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = stages
      .flatMap((s) => s.body)
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'src']));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(dockerIgnored(patterns, s), `${s} is in the build context`).toBe(false);
    }
    expect(dockerIgnored(patterns, 'src/gen/flow/flow_pb.ts')).toBe(false);
    for (const out of ['node_modules', 'node_modules/yaml/package.json', 'dist/cli.js', '.git', 'test/deploy.test.ts']) expect(dockerIgnored(patterns, out), `${out} stays out`).toBe(true);
  });

  it('the pruned image has every package dist/ imports: only dependencies, no devDependencies', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const jsFiles = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? jsFiles(join(dir, n)) : n.endsWith('.js') ? [join(dir, n)] : []));
    const imported = new Set<string>();
    for (const f of jsFiles(join(root, 'dist'))) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"./][^'"]*)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(3);
    expect([...imported].filter((p) => !(p in pkg.dependencies)).sort(), 'imported by dist/ but not a dependency').toEqual([]);
  });
});
