import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI, as a user runs it (`npm test` builds first). */
export const cliPath = join(repoRoot, 'dist', 'cli.js');
/** A file under `examples/`. */
export const example = (name: string) => join(repoRoot, 'examples', name);
