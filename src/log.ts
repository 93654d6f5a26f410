/**
 * A small leveled logger writing logfmt lines to stderr. The service logs
 * rarely (state changes, errors, rate-limited warnings), so this stays tiny.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function quote(v: string): string {
  return /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v);
}

export function formatLine(level: string, msg: string, fields?: LogFields): string {
  let line = `level=${level} msg=${quote(msg)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${quote(String(v))}`;
    }
  }
  return line;
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Logger {
  const min = rank[level];
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: LogFields) => {
    if (rank[lvl] >= min) write(formatLine(lvl, msg, fields));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = createLogger('silent');

/**
 * Lets one message through per `intervalMs` and counts the rest, so a flood of
 * identical problems (one per bad flow) costs one log line, not thousands.
 */
export class RateLimitedLog {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly log: (msg: string, fields?: LogFields) => void,
    private readonly intervalMs = 10_000,
  ) {}

  emit(msg: string, fields?: LogFields): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.last = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.log(msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
