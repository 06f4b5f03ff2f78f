// File sources: list the files a source names (a path or a glob), hash them, and stage one file into
// a temporary table of text columns. Malformed lines are captured with their line number and raw text.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { FileSourceConfig } from '../config/schema.js';
import { expandGlob } from './glob.js';

export interface SourceFile {
  path: string;
  /** Path relative to the config folder, as recorded in the warehouse and manifests. */
  relPath: string;
  size: number;
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
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    throw new SourceReadError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

export const STAGE = '__stage';
export const MALFORMED = '__malformed';

/**
 * Stages a file into STAGE (every column text, rows in file order, so rowid + header = line) and its
 * malformed lines into MALFORMED(line, raw, detail). Returns the staged column names.
 */
export async function stageFile(engine: Engine, source: FileSourceConfig, file: SourceFile): Promise<{ columns: string[]; staged: number; malformed: number }> {
  const d = engine.dialect;
  await engine.run(`DROP TABLE IF EXISTS ${STAGE}`);
  await engine.run(`DROP TABLE IF EXISTS ${MALFORMED}`);
  await engine.run(`CREATE TEMP TABLE ${MALFORMED} (line BIGINT, raw VARCHAR, detail VARCHAR)`);
  try {
    if (source.format === 'csv' || source.format === 'tsv') {
      await engine.run(`DROP TABLE IF EXISTS __csv_rejects`);
      await engine.run(`DROP TABLE IF EXISTS __csv_rejects_scan`);
      await engine.run(`CREATE TEMP TABLE ${STAGE} AS SELECT * FROM ${d.readFile(file.path, source.format, { rejectsTable: '__csv_rejects', delimiter: source.delimiter })}`);
      // One malformed line can raise several errors (e.g. a missing column and an unterminated quote); keep one per line.
      await engine.run(
        `INSERT INTO ${MALFORMED} SELECT line, any_value(csv_line ORDER BY column_idx NULLS FIRST), string_agg(DISTINCT error_type || coalesce(' (' || column_name || ')', '') || ': ' || error_message, '; ') FROM __csv_rejects GROUP BY line`,
      );
    } else if (source.format === 'jsonl') {
      // Each line as text in file order; blank lines are not rows. Validity is judged by the mapping.
      await engine.run(`CREATE TEMP TABLE ${STAGE} AS SELECT json_line FROM ${d.readFile(file.path, 'jsonl', {})}`);
    } else {
      await engine.run(`CREATE TEMP TABLE ${STAGE} AS SELECT * FROM ${d.readFile(file.path, 'parquet', {})}`);
    }
  } catch (err) {
    throw new SourceReadError(`source ${source.name}: cannot read ${file.relPath}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const cols = await engine.all<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE ${STAGE})`);
  const n = await engine.one<{ staged: number; malformed: number }>(`SELECT (SELECT count(*) FROM ${STAGE}) AS staged, (SELECT count(*) FROM ${MALFORMED}) AS malformed`);
  return { columns: cols.map((c) => c.column_name), staged: Number(n?.staged ?? 0), malformed: Number(n?.malformed ?? 0) };
}
