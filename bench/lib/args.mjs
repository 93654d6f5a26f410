/**
 * Tiny flag parser: `--name value`, `--name=value` and bare `--flag` (true).
 * Numbers accept `1e6`, `1_000_000` and `1000000`.
 */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

export function num(v, dflt) {
  if (v === undefined) return dflt;
  const n = Number(String(v).replaceAll('_', ''));
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
}

/** Turns `{a: 1, b: true}` back into `['--a', '1', '--b']` for a child process. */
export function toArgv(opts) {
  const out = [];
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined || v === false) continue;
    out.push(`--${k}`);
    if (v !== true) out.push(String(v));
  }
  return out;
}
