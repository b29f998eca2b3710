// Structured logging: one JSON object per line on stderr. Callers pass fields, never tokens,
// signatures or key material (log `iss`, `kid`, `alg` and short digests instead).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  enabled(level: LogLevel): boolean;
}

/**
 * Lines not written because stderr failed (its reader went away: EPIPE). Logging must never take
 * the gateway down: an 'error' on stderr with no listener is an uncaught exception, which a
 * log shipper restarting, a killed `| tee` or a closed terminal turned into a crash at the next
 * line (a client sending an oversized head was enough to cause one). Envoy drops such writes.
 */
let stderrFailed = false;
let droppedLines = 0;

/**
 * Bytes of log lines that may wait for stderr's reader. A reader that stops reading without going
 * away (a stalled log shipper, a paused `| less`) fills the pipe, and Node then keeps every later
 * write in memory: without a bound that was ~1 KB per request, unbounded, and nothing counted it.
 * Over this, lines are dropped and counted instead (Envoy's access-log buffer is bounded too);
 * lines are written again once the reader has taken the backlog below it.
 */
export const STDERR_BACKLOG_MAX_BYTES = 8 * 1024 * 1024;

/** Lines dropped since stderr failed or while its backlog was full (`jwtgate_log_lines_dropped_total`). */
export function logLinesDropped(): number {
  return droppedLines;
}

/**
 * From now on an error on stdout or stderr is absorbed: stderr lines are then dropped and counted.
 * Called once by the CLI before anything is written.
 */
export function absorbStdioErrors(): void {
  process.stderr.on('error', () => {
    // The write that failed is lost too (later ones are counted as they are dropped).
    if (!stderrFailed) droppedLines++;
    stderrFailed = true;
  });
  process.stdout.on('error', () => {});
}

function writeStderr(line: string): void {
  if (stderrFailed || process.stderr.destroyed || process.stderr.writableLength > STDERR_BACKLOG_MAX_BYTES) {
    droppedLines++;
    return;
  }
  process.stderr.write(line);
}

export function createLogger(level: LogLevel = 'info', write: (line: string) => void = writeStderr): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled: (l) => ORDER[l] >= min,
  };
}

export const silentLogger: Logger = createLogger('error', () => {});

export function isLogLevel(v: string): v is LogLevel {
  // Own keys only: `constructor` or `toString` are not levels.
  return Object.hasOwn(ORDER, v);
}

/**
 * A warning whose cause can repeat per request (a client's flood, a resource the host ran out
 * of): at most one line per window. The first is written at once; the ones after it within the
 * window are counted, and their count (`alsoSinceLastLine`, with the last one's fields) is
 * written when the window ends, or at flush() (the gateway stopping). Used for the 431 line,
 * upstream connects this host could not make, and the verify pool's failures.
 */
export class ThrottledWarning {
  private loggedAt = -Infinity;
  private suppressed = 0;
  private last: Record<string, unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly msg: string,
    private readonly windowMs: number,
  ) {}

  note(fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.loggedAt >= this.windowMs) {
      const also = this.suppressed;
      this.clear();
      this.log.warn(this.msg, also > 0 ? { ...fields, alsoSinceLastLine: also } : fields);
      this.loggedAt = now;
      return;
    }
    this.last = fields;
    if (this.suppressed++ === 0) {
      this.timer = setTimeout(() => this.flush(), this.loggedAt + this.windowMs - now);
      this.timer.unref();
    }
  }

  /** Writes the count of the lines held back since the last one, if any (the window ended, or the process stops). */
  flush(): void {
    const also = this.suppressed;
    const last = this.last;
    this.clear();
    if (also === 0) return;
    this.log.warn(this.msg, { ...last, alsoSinceLastLine: also });
    this.loggedAt = Date.now();
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.suppressed = 0;
    this.last = undefined;
  }
}
