import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { SourceItem } from './from-objects.js';
import { isIpamConfig, validateConfig, type IpamConfig } from './ipam-config.js';
import type { KubeObject } from './kube-object.js';
import type { IpamProblem } from './model.js';

export interface LoadedFiles {
  items: SourceItem[];
  configs: Array<{ config: IpamConfig; where: string }>;
  problems: IpamProblem[];
}

/** How many characters of an offending value a problem quotes. */
const QUOTED_VALUE_CHARS = 60;

/** One version of a file: device, inode, size, modification and change times (ns). */
export interface FileStamp {
  key: string;
  size: number;
  mtimeMs: number;
}

/** The file's stamp, or undefined when it cannot be stat()ed (missing, no permission). Follows symlinks. */
export function stampOf(file: string): FileStamp | undefined {
  try {
    const st = statSync(file, { bigint: true });
    return { key: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, size: Number(st.size), mtimeMs: Number(st.mtimeMs) };
  } catch {
    return undefined;
  }
}

export type SettledRead =
  | { kind: 'read'; file: string; text: string; stamp: string }
  /** The file changed while it was read (written to, truncated, renamed over): the bytes are not used. */
  | { kind: 'changed'; file: string }
  | { kind: 'unreadable'; file: string; code: string };

/**
 * Reads a file and keeps the bytes only if the file's stamp after the read
 * equals the stamp before it and the byte count matches its size: a read
 * that raced a writer (or a rename over the file) is `changed`, never text.
 */
export function readSettledFile(file: string, read: (file: string) => Buffer = (f) => readFileSync(f)): SettledRead {
  const before = stampOf(file);
  let bytes: Buffer;
  try {
    bytes = read(file);
  } catch (e) {
    return { kind: 'unreadable', file, code: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
  const after = stampOf(file);
  if (!before || !after || before.key !== after.key || bytes.length !== after.size) return { kind: 'changed', file };
  return { kind: 'read', file, text: bytes.toString('utf8'), stamp: after.key };
}

/** What to do about a file a refresh script left empty or cut short. */
export function atomicWriteHint(file: string): string {
  const name = basename(file);
  return `if a script refreshes it, write it atomically: kubectl get … > ${name}.tmp && mv ${name}.tmp ${name}`;
}

export function unreadableProblem(file: string, code: string): IpamProblem {
  return { where: file, field: '(file)', value: file, message: `cannot read: ${code}` };
}

/**
 * Reads IPAM input files: Kubernetes objects as `kubectl get … -o json|yaml`
 * gives them (a List, single objects, multi-document YAML) and our IpamConfig
 * documents, in any mix. Every problem names the file, the line or field,
 * and the value.
 */
export function loadIpamFiles(files: string[]): LoadedFiles {
  const out: LoadedFiles = { items: [], configs: [], problems: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      out.problems.push(unreadableProblem(file, (e as NodeJS.ErrnoException).code ?? (e as Error).message));
      continue;
    }
    parseIpamText(file, text, out);
  }
  return out;
}

/**
 * Parses one file's text into `out`. A file must hold at least one object:
 * an empty file, one of only whitespace and comments, or one whose Lists are
 * all empty is a problem (a refresh script caught between truncating and
 * writing), as is a List without its `kind` (kubectl prints `kind: List`
 * after the items, so a List cut short has none).
 */
export function parseIpamText(file: string, text: string, out: LoadedFiles): void {
  const bytes = Buffer.byteLength(text);
  const noObjects = (why: string) => out.problems.push({ where: file, field: '(file)', value: `${bytes} bytes`, message: `${why}: not applied; ${atomicWriteHint(file)}` });
  if (bytes === 0) {
    noObjects('empty file (0 bytes)');
    return;
  }
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const problemsBefore = out.problems.length;
  let objects = 0;
  let lists = 0;
  list.forEach((doc, d) => {
    const where = list.length > 1 ? `${file} (document ${d + 1})` : file;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0];
        const line = pos ? text.split('\n')[pos.line - 1] ?? '' : '';
        out.problems.push({ where: file, field: pos ? `line ${pos.line} column ${pos.col}` : '(syntax)', value: line.trim(), message: `YAML/JSON syntax error: ${err.message.split('\n')[0]}` });
      }
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // an empty document
    if (isIpamConfig(value)) {
      const { config, problems } = validateConfig(value, where);
      out.problems.push(...problems);
      if (config) out.configs.push({ config, where });
      objects++;
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value) || typeof (value as KubeObject).kind !== 'string') {
      const cutList = typeof value === 'object' && value !== null && !Array.isArray(value) && 'items' in value;
      out.problems.push(
        cutList
          ? { where, field: 'kind', value: '(none)', message: `a List without its \`kind\` (kubectl writes \`kind: List\` after the items): the file looks cut short; not applied; ${atomicWriteHint(file)}` }
          : { where, field: 'kind', value: JSON.stringify(value).slice(0, QUOTED_VALUE_CHARS), message: 'not a Kubernetes object (no kind) nor an IpamConfig' },
      );
      return;
    }
    const obj = value as KubeObject;
    if (Array.isArray(obj.items)) {
      lists++;
      // A List may carry our IpamConfig among Kubernetes objects.
      if (obj.items.some(isIpamConfig)) {
        obj.items.forEach((item, i) => {
          if (!isIpamConfig(item)) return;
          const at = `${where} items[${i}]`;
          const { config, problems } = validateConfig(item, at);
          out.problems.push(...problems);
          if (config) out.configs.push({ config, where: at });
          objects++;
        });
        obj.items = obj.items.filter((item) => !isIpamConfig(item));
      }
      objects += obj.items.length;
    } else {
      objects++;
    }
    out.items.push({ obj, where: file });
  });
  if (objects === 0 && out.problems.length === problemsBefore) noObjects(lists > 0 ? 'no objects (an empty List)' : `no objects (only whitespace or comments, ${bytes} bytes)`);
}
