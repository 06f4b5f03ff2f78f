// File sources: list the files a source names (a path or a glob), hash them, and stage one file into
// a temporary table of text columns. Malformed lines are captured with their line number and raw text.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { FileSourceConfig } from '../config/schema.js';
import { expandGlob } from './glob.js';

export interface SourceFile {
  path: string;
  /** Path relative to the config folder, as recorded in the warehouse and manifests. */
  relPath: string;
  size: number;
  /** The CSV header when known (a landing file learnpipe wrote): no sniffing, no DESCRIBE. */
  header?: readonly string[];
}

export class SourceReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SourceReadError';
  }
}

export function listSourceFiles(source: FileSourceConfig, baseDir: string): SourceFile[] {
  const files = expandGlob(path.resolve(baseDir, source.path));
  return files.map((p) => ({ path: p, relPath: path.relative(baseDir, p) || p, size: statSync(p).size }));
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    // Read into one buffer, again and again: a stream allocates a fresh one per read, which for a big
    // file the kernel faults in and zeroes byte for byte, and which sets off garbage collections.
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.allocUnsafeSlow(1 << 20);
      for (let n; (n = (await fh.read(buf, 0, buf.length, null)).bytesRead) > 0; ) hash.update(buf.subarray(0, n));
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new SourceReadError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

export const MALFORMED = '__malformed';
const CSV_REJECTS = '__csv_rejects';

/**
 * The table expression that reads a file (every CSV column as text; malformed CSV lines go to a rejects
 * table); `columns` are the file's, from describeFile.
 */
export function readerSql(engine: Engine, source: FileSourceConfig, file: SourceFile, opts: { captureRejects: boolean; columns?: string[] }): string {
  if (source.format === 'csv' || source.format === 'tsv') {
    return engine.dialect.readFile(file.path, source.format, { rejectsTable: opts.captureRejects ? CSV_REJECTS : undefined, delimiter: source.delimiter, columns: opts.columns, knownHeader: file.header });
  }
  return engine.dialect.readFile(file.path, source.format, {});
}

/** The columns a file has (CSV header, Parquet schema; JSON lines have one text column). */
export async function describeFile(engine: Engine, source: FileSourceConfig, file: SourceFile): Promise<string[]> {
  if (file.header && (source.format === 'csv' || source.format === 'tsv')) return [...file.header];
  try {
    const cols = await engine.all<{ column_name?: string; name?: string }>(engine.dialect.describeFile(file.path, source.format, { delimiter: source.delimiter }));
    return cols.map((c) => (c.column_name ?? c.name)!);
  } catch (err) {
    throw new SourceReadError(`source ${source.name}: cannot read ${file.relPath}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

export async function prepareRejects(engine: Engine): Promise<void> {
  for (const t of [CSV_REJECTS, CSV_REJECTS + '_scan', MALFORMED]) await engine.run(`DROP TABLE IF EXISTS ${t}`);
  await engine.run(engine.dialect.createTempTable(MALFORMED, [['line', 'bigint'], ['raw', 'varchar'], ['detail', 'varchar']]));
}

/** After the read: malformed CSV lines (one row per line, all its errors in the detail) into MALFORMED. */
export async function collectMalformed(engine: Engine, source: FileSourceConfig, file: SourceFile, columns: string[]): Promise<void> {
  if (source.format !== 'csv' && source.format !== 'tsv') return;
  const sql = engine.dialect.collectMalformed(MALFORMED, file.path, source.format, { rejectsTable: CSV_REJECTS, delimiter: source.delimiter, columns });
  if (sql.check !== null) {
    const exists = await engine.one<{ n: number }>(sql.check);
    if (!exists || Number(exists.n) === 0) return;
  }
  await engine.run(sql.insert);
}

/**
 * Reads the given 1-based physical lines of a text file (for the raw text of rejected rows), streaming
 * and stopping after the last one wanted.
 */
export async function readLines(file: string, wanted: number[]): Promise<Map<number, string>> {
  const want = new Set(wanted);
  const last = Math.max(0, ...wanted);
  const out = new Map<number, string>();
  if (!want.size) return out;
  let line = 1;
  let partial: Buffer[] = [];
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
        if (want.has(line)) out.set(line, Buffer.concat([...partial, chunk.subarray(start, i)]).toString('utf8').replace(/\r$/, ''));
        partial = [];
        start = i + 1;
        if (++line > last) return out;
      }
      // Keep the tail of a wanted line only; other lines' bytes are dropped as they stream past.
      if (want.has(line)) partial.push(chunk.subarray(start));
    }
    if (want.has(line) && partial.length) out.set(line, Buffer.concat(partial).toString('utf8'));
    return out;
  } finally {
    stream.destroy();
  }
}
