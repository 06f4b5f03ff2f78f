// A Postgres source: a table or query read incrementally in order of a key or time column, in batches
// inside one REPEATABLE READ snapshot. Each batch is streamed by Postgres itself as CSV (COPY … TO
// STDOUT) straight into a landing file, so memory stays flat whatever the batch size, then loaded by
// the file loader in its own warehouse transaction together with the new position. A run that dies
// mid-way keeps the batches it committed; the next run resumes after the last one.
import { closeSync, createWriteStream, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import type pg from 'pg';
import type { Engine } from '../../engine/engine.js';
import type { LoadedConfig } from '../../config/load.js';
import type { Fields, PostgresSourceConfig } from '../../config/schema.js';
import type { Pseudonymizer } from '../../privacy/pseudonym.js';
import type { Vault } from '../../privacy/vault.js';
import { loadFile, nextLoadId, type LoadResult } from '../../normalize/load.js';
import { readLines, SourceReadError, type SourceFile } from '../files.js';
import { removeMapped } from './apply.js';
import { connect, quoteQualified, safeMessage } from './connect.js';
import { asFileSource, landingDir, readPosition, renameRejectLocations, savePosition } from './landing.js';

export interface PostgresLoadOptions {
  asOf: string | null;
  vault?: Vault | null;
  /** Called after each batch commits (progress; tests use it to cut the connection mid-load). */
  onBatch?: (result: LoadResult, client: pg.Client) => void | Promise<void>;
}

const q = (id: string) => `"${id.replaceAll('"', '""')}"`;
/** Two trailing columns of every landed row: the row key and the position, hex-encoded so the last
 * line of a file always ends with them, whatever the other values hold (quotes, commas, newlines). */
const KEY_COL = '__lp_key';
const POS_COL = '__lp_pos';
const POSITION_SETTING = 'learnpipe.position';

/** The source columns the field mapping reads (a table source selects only these). */
export function mappedColumns(fields: Fields, extra: string[]): string[] {
  const cols: string[] = [];
  const add = (c: string | undefined) => c && !cols.includes(c) && cols.push(c);
  for (const v of Object.values(fields)) {
    if (typeof v === 'string') add(v);
    else if (v && typeof v === 'object') for (const k of ['column', 'id_column', 'name_column', 'timezone_column'] as const) add((v as Record<string, string | undefined>)[k]);
  }
  extra.forEach(add);
  return cols;
}

function baseSelect(source: PostgresSourceConfig): string {
  if (source.query) return source.query.replace(/;\s*$/, '');
  const cols = mappedColumns(source.fields, [...source.pii_columns, source.incremental.column, source.row_key ?? source.incremental.column]);
  return `SELECT ${cols.map(q).join(', ')} FROM ${quoteQualified(source.table!)}`;
}

/** Reads the hex fields at the end of a landed file's last line: the last row's key and position. */
function lastRowTail(file: string): { key: string; position: string } | null {
  const size = statSync(file).size;
  const n = Math.min(size, 1 << 16);
  const buf = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, n, size - n);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('latin1').replace(/\r?\n$/, '').split('\n');
  const fields = lines[lines.length - 1].split(',');
  if (fields.length < 2) return null;
  const hex = (s: string) => Buffer.from(s.trim(), 'hex').toString('utf8');
  return { key: hex(fields[fields.length - 2]), position: hex(fields[fields.length - 1]) };
}

export async function ingestPostgresSource(engine: Engine, loaded: LoadedConfig, source: PostgresSourceConfig, pz: Pseudonymizer, opts: PostgresLoadOptions): Promise<LoadResult[]> {
  const { config, baseDir } = loaded;
  const what = `source ${source.name}`;
  const rowKey = source.row_key ?? source.incremental.column;
  const rowLabel = source.table ?? source.name;
  const landing = landingDir(path.resolve(baseDir, config.warehouse), source.name);
  mkdirSync(landing, { recursive: true });
  const results: LoadResult[] = [];
  let position = await readPosition(engine, source.name);
  const lost = (err: unknown) => {
    const done = results.length ? `${results.length} batch(es) committed, up to ${source.incremental.column} = ${position}` : 'nothing committed in this run';
    return new SourceReadError(`${what}: reading from Postgres failed (${safeMessage(err)}); ${done}; the next run resumes from there`, { cause: err });
  };

  const client = await connect(source.connection, what);
  try {
    let inner: string;
    let colType: string;
    try {
      // One snapshot for the whole read: batches are consistent with each other.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      inner = baseSelect(source);
      const probe = await client.query(`SELECT * FROM (${inner}) AS q LIMIT 0`);
      const names = probe.fields.map((f) => f.name);
      for (const c of [source.incremental.column, rowKey]) {
        if (!names.includes(c)) throw new SourceReadError(`${what}: column ${c} is not in the result (its columns are: ${names.join(', ')})`);
      }
      // The position is bound (set_config) and cast to the column's own type, as Postgres names it.
      const oid = probe.fields.find((f) => f.name === source.incremental.column)!.dataTypeID;
      colType = (await client.query(`SELECT format_type($1::oid, NULL) AS t`, [oid])).rows[0].t;
    } catch (err) {
      if (err instanceof SourceReadError) throw err;
      throw lost(err);
    }
    const col = `q.${q(source.incremental.column)}`;
    // A time column resumes at the last time seen (>=): rows written later with the same time are not
    // missed, and those already loaded are loaded again (they replace themselves). A unique key
    // resumes after the last value.
    const cmp = source.incremental.kind === 'time' ? '>=' : '>';
    const hex = (c: string) => `encode(convert_to(CAST(${c} AS text), 'UTF8'), 'hex')`;
    for (;;) {
      const where = position === null ? `${col} IS NOT NULL` : `${col} ${cmp} CAST(current_setting('${POSITION_SETTING}') AS ${colType})`;
      const copySql = `COPY (SELECT q.*, ${hex(`q.${q(rowKey)}`)} AS ${KEY_COL}, ${hex(col)} AS ${POS_COL} FROM (${inner}) AS q WHERE ${where} ORDER BY ${col} LIMIT ${source.batch_rows}) TO STDOUT WITH (FORMAT csv, HEADER true)`;
      const loadId = await nextLoadId(engine);
      const filePath = path.join(landing, `load-${loadId}.csv`);
      const hash = createHash('sha256');
      let rowCount = 0;
      try {
        if (position !== null) await client.query(`SELECT set_config('${POSITION_SETTING}', $1, true)`, [position]);
        const stream = client.query(copyTo(copySql));
        await pipeline(
          stream,
          new Transform({ transform: (chunk: Buffer, _e, cb) => (hash.update(chunk), cb(null, chunk)) }),
          createWriteStream(filePath),
        );
        rowCount = Number(stream.rowCount ?? 0);
      } catch (err) {
        rmSync(filePath, { force: true });
        throw lost(err);
      }
      if (rowCount === 0) {
        rmSync(filePath, { force: true });
        break;
      }
      const tail = lastRowTail(filePath);
      if (!tail) throw new SourceReadError(`${what}: could not read the position from the batch just landed (${filePath})`);
      // A full batch that ends where it started cannot make progress (more rows share one time than a batch holds).
      if (rowCount === source.batch_rows && tail.position === position) {
        rmSync(filePath, { force: true });
        throw new SourceReadError(`${what}: more than batch_rows (${source.batch_rows}) rows have ${source.incremental.column} = ${position}; raise batch_rows`);
      }
      const file: SourceFile = { path: filePath, relPath: path.relative(baseDir, filePath) || filePath, size: statSync(filePath).size };
      const fileSource = asFileSource(source, file.relPath);
      const result = await engine.transaction(async () => {
        // Rows found by a modification time may be updates of rows loaded before: they replace them.
        if (source.incremental.kind === 'time') await removeMapped(engine, loaded, source, file, pz);
        const r = await loadFile(engine, config, fileSource, file, hash.digest('hex'), pz, { loadId, asOf: opts.asOf, vault: opts.vault });
        await nameRejectedRows(engine, loadId, file, rowLabel, rowKey);
        await savePosition(engine, source.name, tail.position, source.incremental.kind, loadId);
        return r;
      });
      position = tail.position;
      if (!source.keep_landing) rmSync(filePath, { force: true });
      results.push(result);
      await opts.onBatch?.(result, client);
      if (rowCount < source.batch_rows) break;
    }
    await client.query('COMMIT').catch(() => undefined);
  } finally {
    await client.end().catch(() => undefined);
  }
  return results;
}

/** Renames the batch's rejects from file:line to <table>:<row key>=<value>, read from the line's key field (from the file: the raw text in rejects may be redacted). */
async function nameRejectedRows(engine: Engine, loadId: number, file: SourceFile, rowLabel: string, rowKey: string): Promise<void> {
  // The raw text kept with a reject is the source row: without the two bookkeeping columns at its end.
  await engine.run(`UPDATE rejects SET raw = regexp_replace(raw, ',[0-9a-f]*,[0-9a-f]*$', '') WHERE load_id = $1 AND raw IS NOT NULL`, [loadId]);
  const locs = await engine.all<{ location: string }>(`SELECT DISTINCT location FROM rejects WHERE load_id = $1`, [loadId]);
  const lines = locs.map((l) => Number(l.location.slice(file.relPath.length + 1))).filter((n) => Number.isInteger(n) && n > 1);
  if (!lines.length) return;
  const raw = await readLines(file.path, lines);
  await renameRejectLocations(engine, loadId, file.relPath, (i) => {
    const line = raw.get(i + 2);
    if (line === undefined) return null;
    const f = line.split(',');
    return f.length >= 2 ? `${rowLabel}:${rowKey}=${Buffer.from(f[f.length - 2], 'hex').toString('utf8')}` : null;
  });
}

