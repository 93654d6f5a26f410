import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new empty directory under the OS temp dir, named `hie-<what>-XXXXXX`. */
export function tempDir(what: string): string {
  return mkdtempSync(join(tmpdir(), `hie-${what}-`));
}
