export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn` `runs` times and returns every result (numbers) and their median. */
export async function medianOf(runs, fn) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await fn(i));
  return { median: median(all), all };
}

export const mb = (bytes) => bytes / (1024 * 1024);

/** 1234567 → "1,234,567"; small numbers keep `digits` decimals. */
export function fmt(x, digits = 2) {
  if (x === undefined || x === null || Number.isNaN(x)) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}
