// Cross-engine test support: a ClickHouse warehouse (chdb, in-process) next to the DuckDB one, canonical
// tables copied from DuckDB into ClickHouse through Parquet, and sorted-row comparison.
import { createRequire } from 'node:module';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { Engine, Row } from '../../src/engine/engine.js';
import { ClickHouseEngine } from '../../src/engine/clickhouse.js';
import { ensureWarehouse } from '../../src/schema/warehouse.js';
import { ALL_TABLES } from '../../src/schema/canonical.js';
import { tmpDir } from './tmp.js';

/** Why ClickHouse tests skip here, or null when chdb is installed. */
export const chdbMissing: string | null = (() => {
  try {
    createRequire(import.meta.url).resolve('chdb');
    return null;
  } catch {
    return 'chdb is not installed (npm install chdb): ClickHouse engine tests skipped';
  }
})();

/** A fresh chdb warehouse in a temp folder (removed when the test file ends). */
export async function chdbWarehouse(): Promise<ClickHouseEngine> {
  const engine = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(tmpDir('learnpipe-chdb-'), 'wh') });
  await ensureWarehouse(engine);
  return engine;
}

/** Every row of a derived table (features, training): its columns from the catalog, timestamps as text. */
export async function derivedRows(engine: Engine, table: string): Promise<Row[]> {
  const cols = await engine.all<{ c: string; t: string }>(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = $1 AND table_schema = ${engine.dialect.currentSchema()} ORDER BY ordinal_position`, [table]);
  assert.ok(cols.length, `${table} exists on ${engine.dialect.name}`);
  const q = (c: string) => engine.dialect.quoteIdent(c);
  return engine.all(`SELECT ${cols.map((c) => (/time|date/i.test(c.t) ? `${engine.dialect.toText(q(c.c))} AS ${q(c.c)}` : q(c.c))).join(', ')} FROM ${q(table)}`);
}

/** Every row of a canonical table, timestamps and dates as text (JS dates would drop microseconds). */
export async function tableRows(engine: Engine, name: string): Promise<Row[]> {
  const def = ALL_TABLES.find((t) => t.name === name);
  if (!def) throw new Error(`not a canonical table: ${name}`);
  const q = (c: string) => engine.dialect.quoteIdent(c);
  const cols = def.columns.map((c) => (c.type === 'timestamp' || c.type === 'date' ? `${engine.dialect.toText(q(c.name))} AS ${q(c.name)}` : q(c.name)));
  return engine.all(`SELECT ${cols.join(', ')} FROM ${q(name)}`);
}

/** A value in a form both engines agree on: timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]' without trailing zeros, numbers as numbers. */
export function normalizeValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return normalizeValue(v.toISOString().replace('T', ' ').replace('Z', ''));
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?$/.exec(v);
    if (m) {
      const frac = (m[3] ?? '').replace(/\.?0+$/, '');
      return `${m[1]} ${m[2]}${frac}`;
    }
    return v;
  }
  if (Array.isArray(v)) return v.map(normalizeValue);
  return v;
}

/**
 * Asserts two result sets hold the same rows (order ignored): values compared after normalizeValue,
 * floats within a relative tolerance of 1e-9.
 */
export function assertSameRows(duck: Row[], click: Row[], what: string): void {
  const norm = (rows: Row[]) =>
    rows
      .map((r) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, normalizeValue(r[k])])))
      .map((r) => ({ r, key: JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(9)) : v)) }))
      .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
      .map((x) => x.r);
  const a = norm(duck);
  const b = norm(click);
  assert.equal(b.length, a.length, `${what}: ${a.length} rows on DuckDB, ${b.length} on ClickHouse`);
  for (let i = 0; i < a.length; i++) {
    for (const k of Object.keys(a[i])) {
      const x = a[i][k];
      const y = b[i][k];
      if (typeof x === 'number' && typeof y === 'number' && (!Number.isInteger(x) || !Number.isInteger(y))) {
        assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y)), `${what}: row ${i} ${k}: DuckDB ${x}, ClickHouse ${y}`);
      } else {
        assert.deepEqual(y, x, `${what}: row ${i} ${k}: DuckDB ${JSON.stringify(x)}, ClickHouse ${JSON.stringify(y)}\nDuckDB row: ${JSON.stringify(a[i])}\nClickHouse row: ${JSON.stringify(b[i])}`);
      }
    }
  }
}
