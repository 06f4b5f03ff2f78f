// A Postgres source: a table or query read incrementally in order of a key or time column, streamed
// from a server-side cursor in batches (memory holds one batch), each batch landed as CSV and loaded
// in its own warehouse transaction together with the new position. A run that dies mid-way keeps the
// batches it committed; the next run resumes after the last one.
import { rmSync } from 'node:fs';
import path from 'node:path';
import Cursor from 'pg-cursor';
import type pg from 'pg';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { PostgresSourceConfig } from '../../config/schema.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import { loadFile, nextLoadId, type LoadResult } from '../../normalize/load.js';
import { SourceReadError } from '../files.js';
import { removeMapped } from './apply.js';
import { connect, quoteQualified, safeMessage } from './connect.js';
import { asFileSource, landCsv, landingDir, readPosition, renameRejectLocations, savePosition, type TextRow } from './landing.js';

export interface PostgresLoadOptions {
  asOf: string | null;
  vault?: Vault | null;
  /** Called after each batch commits (progress; tests use it to cut the connection mid-load). */
  onBatch?: (result: LoadResult, client: pg.Client) => void | Promise<void>;
}

const q = (id: string) => `"${id.replaceAll('"', '""')}"`;

/** The SELECT over the source's rows after a position, in order of the incremental column. */
export function incrementalSql(source: PostgresSourceConfig, position: string | null): { text: string; values: string[] } {
  const from = source.table ? `SELECT * FROM ${quoteQualified(source.table)}` : source.query!.replace(/;\s*$/, '');
  const col = `q.${q(source.incremental.column)}`;
  // A time column resumes at the last time seen (>=): rows written later with the same time are not
  // missed, and those already loaded are loaded again (they replace themselves). A unique key resumes
  // after the last value.
  const cmp = source.incremental.kind === 'time' ? '>=' : '>';
  const where = position === null ? `${col} IS NOT NULL` : `${col} ${cmp} $1`;
  return { text: `SELECT * FROM (${from}) AS q WHERE ${where} ORDER BY ${col}`, values: position === null ? [] : [position] };
}

export async function ingestPostgresSource(engine: Engine, loaded: LoadedConfig, source: PostgresSourceConfig, pz: Pseudonymizer, opts: PostgresLoadOptions): Promise<LoadResult[]> {
  const { config, baseDir } = loaded;
  const what = `source ${source.name}`;
  const rowKey = source.row_key ?? source.incremental.column;
  const rowLabel = source.table ?? source.name;
  const landing = landingDir(path.resolve(baseDir, config.warehouse), source.name);
  const results: LoadResult[] = [];
  let position = await readPosition(engine, source.name);

  const client = await connect(source.connection, what);
  let cursor: Cursor<TextRow> | undefined;
  try {
    // One snapshot for the whole read: batches are consistent with each other.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const sql = incrementalSql(source, position);
    cursor = client.query(new Cursor<TextRow>(sql.text, sql.values));
    for (;;) {
      let rows: TextRow[];
      try {
        rows = await cursor.read(source.batch_rows);
      } catch (err) {
        const done = results.length ? `${results.length} batch(es) committed, up to ${source.incremental.column} = ${position}` : 'nothing committed in this run';
        throw new SourceReadError(`${what}: reading from Postgres failed (${safeMessage(err)}); ${done}; the next run resumes from there`, { cause: err });
      }
      if (!rows.length) break;
      const columns = Object.keys(rows[0]);
      for (const c of [source.incremental.column, rowKey]) {
        if (!columns.includes(c)) throw new SourceReadError(`${what}: column ${c} is not in the result (its columns are: ${columns.join(', ')})`);
      }
      const loadId = await nextLoadId(engine);
      const last = rows[rows.length - 1][source.incremental.column]!;
      const landed = landCsv(path.join(landing, `load-${loadId}.csv`), baseDir, columns, rows);
      const fileSource = asFileSource(source, landed.file.relPath);
      const result = await engine.transaction(async () => {
        // Rows found by a modification time may be updates of rows loaded before: they replace them.
        if (source.incremental.kind === 'time') await removeMapped(engine, loaded, source, landed.file, pz);
        const r = await loadFile(engine, config, fileSource, landed.file, landed.sha256, pz, { loadId, asOf: opts.asOf, vault: opts.vault });
        await renameRejectLocations(engine, loadId, landed.file.relPath, (i) => (rows[i] ? `${rowLabel}:${rowKey}=${rows[i][rowKey]}` : null));
        await savePosition(engine, source.name, last, source.incremental.kind, loadId);
        return r;
      });
      position = last;
      if (!source.keep_landing) rmSync(landed.file.path, { force: true });
      results.push(result);
      await opts.onBatch?.(result, client);
      if (rows.length < source.batch_rows) break;
    }
    await cursor.close().catch(() => undefined);
    await client.query('COMMIT').catch(() => undefined);
  } finally {
    await client.end().catch(() => undefined);
  }
  return results;
}
