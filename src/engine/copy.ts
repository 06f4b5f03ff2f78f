// Moves a warehouse's canonical tables from DuckDB into ClickHouse (for a team outgrowing one machine,
// or to run the same tables on both engines). Tables travel as Parquet files in a private temp folder,
// one at a time; the ClickHouse tables are emptied first, so a repeated copy gives the same rows.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALL_TABLES } from '../schema/canonical.js';
import type { Engine } from './engine.js';
import type { ClickHouseEngine } from './clickhouse.js';

/** The tables a ClickHouse run reads: canonical data and the bookkeeping that stages consult. */
export const COPIED_TABLES = ['users', 'enrollments', 'events', 'assessments', 'content', 'content_names', 'hr_records', 'identity_map', 'identity_links', 'rejects', 'loads', 'loaded_files', 'watermarks'];

export interface CopyResult {
  table: string;
  rows: number;
}

export async function copyWarehouse(from: Engine, to: ClickHouseEngine, tables: string[] = COPIED_TABLES, onTable?: (r: CopyResult) => void): Promise<CopyResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'learnpipe-copy-'));
  const out: CopyResult[] = [];
  try {
    for (const name of tables) {
      const def = ALL_TABLES.find((t) => t.name === name);
      if (!def) throw new Error(`not a canonical table: ${name}`);
      const cols = def.columns.map((c) => c.name);
      const file = path.join(dir, `${name}.parquet`);
      const q = (c: string) => from.dialect.quoteIdent(c);
      await from.run(`COPY (SELECT ${cols.map(q).join(', ')} FROM ${q(name)}) TO ${from.dialect.quoteString(file)} (FORMAT parquet)`);
      await to.run(`TRUNCATE TABLE IF EXISTS ${to.dialect.quoteIdent(name)}`);
      await to.insertParquet(name, cols, file);
      rmSync(file);
      const rows = Number((await to.one<{ n: number }>(`SELECT count(*) AS n FROM ${to.dialect.quoteIdent(name)}`))?.n ?? 0);
      const r = { table: name, rows };
      out.push(r);
      onTable?.(r);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
