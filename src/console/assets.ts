import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One static file of the console, read once, with its strong ETag. */
export interface ConsoleAsset {
  body: Buffer;
  type: string;
  etag: string;
  /** The first 10 hex digits of its SHA-256: versions its URL. */
  hash: string;
}

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Where the assets are: `src/console/assets` beside this file when run from
 * source, and the same folder from `dist/console/` (tsc copies no assets).
 */
function assetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'assets'), join(here, '..', '..', 'src', 'console', 'assets')];
  const dir = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!dir) throw new Error(`the console's assets are missing: looked in ${candidates.join(', ')}; a clone of the repository has them in src/console/assets`);
  return dir;
}

/** The console's files by name (index.html, console.js, console.css), read once. */
export function loadConsoleAssets(): Map<string, ConsoleAsset> {
  const dir = assetsDir();
  const out = new Map<string, ConsoleAsset>();
  for (const [name, type] of Object.entries(TYPES)) {
    const body = readFileSync(join(dir, name));
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
    out.set(name, { body, type, etag: `"${hash}"`, hash });
  }
  // The page asks for the script and style by their hash: they can be cached for good.
  const page = out.get('index.html')!;
  const body = Buffer.from(page.body.toString('utf8').replace(/\{\{(console\.(?:js|css))\}\}/g, (_m, name: string) => `/console/${name}?v=${out.get(name)!.hash}`));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 10);
  out.set('index.html', { body, type: page.type, etag: `"${hash}"`, hash });
  return out;
}
