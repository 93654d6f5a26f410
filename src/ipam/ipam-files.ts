import { readFileSync } from 'node:fs';
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
      out.problems.push({ where: file, field: '(file)', value: file, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    const docs = parseAllDocuments(text, { prettyErrors: true });
    const list = Array.isArray(docs) ? docs : [docs];
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
        return;
      }
      if (typeof value !== 'object' || Array.isArray(value) || typeof (value as KubeObject).kind !== 'string') {
        out.problems.push({ where, field: 'kind', value: JSON.stringify(value).slice(0, 60), message: 'not a Kubernetes object (no kind) nor an IpamConfig' });
        return;
      }
      const obj = value as KubeObject;
      // A List may carry our IpamConfig among Kubernetes objects.
      if (Array.isArray(obj.items) && obj.items.some(isIpamConfig)) {
        obj.items.forEach((item, i) => {
          if (!isIpamConfig(item)) return;
          const at = `${where} items[${i}]`;
          const { config, problems } = validateConfig(item, at);
          out.problems.push(...problems);
          if (config) out.configs.push({ config, where: at });
        });
        obj.items = obj.items.filter((item) => !isIpamConfig(item));
      }
      out.items.push({ obj, where: file });
    });
  }
  return out;
}
