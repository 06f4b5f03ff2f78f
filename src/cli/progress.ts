// Progress for long loads: a bar with rows/s when stderr is a terminal, plain structured log lines
// otherwise (CI, pipes, log files). Never prints secrets or raw rows.
import cliProgress from 'cli-progress';
import type { IngestProgress } from '../normalize/ingest.js';

export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
}

/** Structured log lines on stderr: `level=info event=load.done source=… rows=…`. */
export function createLogger(opts: { quiet?: boolean } = {}): Logger {
  const fmt = (v: unknown) => (typeof v === 'string' && !/\s|=|"/.test(v) ? v : JSON.stringify(v));
  const line = (level: string, event: string, fields: Record<string, unknown> = {}) =>
    `level=${level} event=${event}${Object.entries(fields).map(([k, v]) => ` ${k}=${fmt(v)}`).join('')}\n`;
  return {
    info: (e, f) => {
      if (!opts.quiet) process.stderr.write(line('info', e, f));
    },
    warn: (e, f) => process.stderr.write(line('warn', e, f)),
  };
}

export function ingestProgress(log: Logger, opts: { tty?: boolean; quiet?: boolean } = {}): IngestProgress {
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  if (opts.quiet) return {};
  if (!tty) {
    let started = 0;
    return {
      onFileStart: (i) => {
        started = Date.now();
        log.info('load.start', { source: i.source, file: i.file, n: `${i.index}/${i.total}`, bytes: i.bytes });
      },
      onFileDone: (r) => {
        const secs = (Date.now() - started) / 1000;
        log.info('load.done', { source: r.source, file: r.input, read: r.rows_read, accepted: r.accepted, duplicates: r.duplicates, rejected: r.rejected, rows_per_s: Math.round(r.rows_read / Math.max(secs, 1e-3)) });
      },
      onSkip: (i) => log.info('load.skip', i),
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: ' {source} {file} |{bar}| {percentage}% | {rows} rows | {rate} rows/s', hideCursor: true, stream: process.stderr, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = 0;
  return {
    onFileStart: (i) => {
      started = Date.now();
      bar.start(100, 0, { source: i.source, file: i.file, rows: 0, rate: 0 });
    },
    onTick: (p) => {
      const secs = (Date.now() - started) / 1000;
      bar.update(Math.min(99, Math.floor(p.percentage)), { rows: p.rowsProcessed, rate: Math.round(p.rowsProcessed / Math.max(secs, 1e-3)) });
    },
    onFileDone: (r) => {
      const secs = (Date.now() - started) / 1000;
      bar.update(100, { rows: r.rows_read, rate: Math.round(r.rows_read / Math.max(secs, 1e-3)) });
      bar.stop();
    },
    onSkip: (i) => log.info('load.skip', i),
  };
}
