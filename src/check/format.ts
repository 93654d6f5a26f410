import type { Finding } from './finding.js';

export const checkFormats = ['table', 'markdown', 'json'] as const;
export type CheckFormat = (typeof checkFormats)[number];

const counts = (list: readonly Finding[]): string => {
  const n = (s: string) => list.filter((f) => f.severity === s).length;
  return `${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} info`;
};

/** The findings as text: a table for terminals, markdown for tickets, JSON for scripts. */
export function formatFindings(list: readonly Finding[], format: CheckFormat): string {
  if (format === 'json') return `${JSON.stringify({ findings: list }, null, 2)}\n`;
  if (list.length === 0) return format === 'markdown' ? '**IPAM check:** no findings.\n' : 'IPAM check: no findings.\n';
  if (format === 'markdown') {
    const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
    const rows = list.map((f) => `| ${f.severity} | \`${f.code}\` | ${cell(f.objects.join(', '))} | ${cell(f.message)} | ${cell(f.why)} | ${cell(f.fix)} |`);
    return [`**IPAM check:** ${counts(list)}`, '', '| severity | code | objects | what | why | fix |', '|---|---|---|---|---|---|', ...rows, ''].join('\n');
  }
  const blocks = list.map((f) => [`${f.severity.toUpperCase()} ${f.code}`, `  objects: ${f.objects.join(', ')}`, `  what:    ${f.message}`, `  why:     ${f.why}`, `  fix:     ${f.fix}`].join('\n'));
  return `IPAM check: ${counts(list)}\n\n${blocks.join('\n\n')}\n`;
}
