/**
 * The vector selectors of a PromQL expression, each with its label matchers,
 * its range (`[…]`, if any) and the functions and aggregations it sits in:
 * what Grafana's dashboard-linter reads from Prometheus' parser (job and
 * instance matchers, $__rate_interval in rate()), read here by a small
 * scanner of the PromQL the dashboards and rules use. Grafana variables
 * (`$pool`, `$__rate_interval`) may stand in strings and ranges as they are.
 * Prometheus itself (promtool) says whether an expression is valid; this only
 * says where its selectors are.
 */

export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  /** The metric name ('' for a bare `{…}`). */
  name: string;
  matchers: Matcher[];
  /** The text inside `[…]` right after the selector, if any. */
  range?: string;
  /** Functions and aggregations around it, outermost first (`sum`, `rate`, …; `(` for plain parentheses). */
  within: string[];
}

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values']);
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set([...LABEL_LISTS, 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Aggregation operators PromQL knows (sum, max, count, …). */
export function isAggregation(name: string): boolean {
  return AGGREGATIONS.has(name);
}

function readString(s: string, i: number): number {
  const q = s[i]!;
  let j = i + 1;
  while (j < s.length && s[j] !== q) j += s[j] === '\\' ? 2 : 1;
  if (j >= s.length) throw new Error(`unterminated string at ${i}: ${s}`);
  return j + 1;
}

function unquote(lit: string): string {
  return lit.slice(1, -1).replace(/\\(.)/g, '$1');
}

function parseMatchers(body: string, where: string): Matcher[] {
  const out: Matcher[] = [];
  const re = /\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while (end < body.length && (m = re.exec(body))) {
    out.push({ name: m[1]!, op: m[2] as Matcher['op'], value: unquote(m[3]!) });
    end = re.lastIndex;
  }
  if (body.slice(end).trim() !== '') throw new Error(`cannot read the matchers {${body}} in ${where}`);
  return out;
}

/** Every vector selector of `expr`, in order. */
export function selectors(expr: string): Selector[] {
  const s = expr;
  const out: Selector[] = [];
  // The parenthesis stack: what each open "(" belongs to.
  const stack: string[] = [];
  let prev: { kind: 'ident' | 'keyword' | 'close' | 'other'; text: string; closed?: string } = { kind: 'other', text: '' };
  let pendingAggregation: string | undefined;
  let last: Selector | undefined; // the selector a following {…} or […] belongs to
  let i = 0;
  const skipSpace = (j: number) => {
    while (j < s.length && /\s/.test(s[j]!)) j++;
    return j;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      i = readString(s, i);
      prev = { kind: 'other', text: 'string' };
      last = undefined;
      continue;
    }
    if (c === '{') {
      let j = i + 1;
      while (j < s.length && s[j] !== '}') j = s[j] === '"' || s[j] === "'" || s[j] === '`' ? readString(s, j) : j + 1;
      const matchers = parseMatchers(s.slice(i + 1, j), expr);
      if (last && last.matchers.length === 0) last.matchers = matchers;
      else {
        last = { name: '', matchers, within: [...stack] };
        out.push(last);
      }
      i = j + 1;
      prev = { kind: 'other', text: '}' };
      continue;
    }
    if (c === '[') {
      const j = s.indexOf(']', i);
      if (j < 0) throw new Error(`unterminated range in ${expr}`);
      if (last) last.range = s.slice(i + 1, j).trim();
      i = j + 1;
      prev = { kind: 'other', text: ']' };
      last = undefined;
      continue;
    }
    if (c === '(') {
      let owner = '(';
      if (prev.kind === 'ident') owner = prev.text;
      else if (prev.kind === 'keyword' && LABEL_LISTS.has(prev.text)) owner = '#labels';
      else if (prev.kind === 'close' && prev.closed === '#labels' && pendingAggregation) {
        owner = pendingAggregation;
        pendingAggregation = undefined;
      }
      stack.push(owner);
      i++;
      prev = { kind: 'other', text: '(' };
      last = undefined;
      continue;
    }
    if (c === ')') {
      const closed = stack.pop();
      if (closed === undefined) throw new Error(`unbalanced ")" in ${expr}`);
      i++;
      prev = { kind: 'close', text: ')', closed };
      last = undefined;
      continue;
    }
    const id = /^[A-Za-z_:][\w:]*/.exec(s.slice(i));
    if (id) {
      const word = id[0];
      const j = skipSpace(i + word.length);
      i += word.length;
      if (stack[stack.length - 1] === '#labels') {
        prev = { kind: 'other', text: word };
        continue;
      }
      if (KEYWORDS.has(word.toLowerCase())) {
        prev = { kind: 'keyword', text: word.toLowerCase() };
        last = undefined;
        continue;
      }
      if (AGGREGATIONS.has(word) && /^(by|without)\b/.test(s.slice(j))) {
        pendingAggregation = word;
        prev = { kind: 'other', text: word };
        continue;
      }
      if (s[j] === '(') {
        prev = { kind: 'ident', text: word };
        continue;
      }
      last = { name: word, matchers: [], within: [...stack] };
      out.push(last);
      prev = { kind: 'other', text: word };
      continue;
    }
    const num = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?)/i.exec(s.slice(i));
    if (num) {
      i += num[0].length;
      prev = { kind: 'other', text: num[0] };
      last = undefined;
      continue;
    }
    // Operators and commas.
    i++;
    prev = { kind: 'other', text: c };
    last = undefined;
  }
  if (stack.length > 0) throw new Error(`unbalanced "(" in ${expr}`);
  return out;
}

/** The innermost aggregation a selector sits in (undefined: none). */
export function aggregationOf(sel: Selector): string | undefined {
  for (let k = sel.within.length - 1; k >= 0; k--) if (AGGREGATIONS.has(sel.within[k]!)) return sel.within[k];
  return undefined;
}

/** The function the selector's range is handed to (rate, increase, min_over_time, …). */
export function rangeFunctionOf(sel: Selector): string | undefined {
  return sel.range === undefined ? undefined : sel.within[sel.within.length - 1];
}
