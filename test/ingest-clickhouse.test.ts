// Issue 9, ingestion: the demo's raw files ingested by each engine itself. DuckDB runs the demo; the same
// config, pointed at chdb, ingests the same files and runs every stage there. Every load must reconcile
// with the generator's ground truth on ClickHouse too, the canonical tables (ids and pseudonyms
// included), features, labels and training table must hold the same rows as DuckDB's, and a second run
// must load nothing and change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runDemo } from '../src/cli/demo.js';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { runPipeline } from '../src/pipeline.js';
import { ALL_TABLES } from '../src/schema/canonical.js';
import type { GroundTruth } from '../src/generate/index.js';
import type { Engine, Row } from '../src/engine/engine.js';
import type { LoadResult } from '../src/normalize/load.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';
import { assertSameRows, chdbMissing, tableRows } from './helpers/engines.js';

const quiet = { info() {}, warn() {}, error() {} } as never;

/** Every row of a derived table (features, training), timestamps as text. */
async function derivedRows(engine: Engine, table: string): Promise<Row[]> {
  const cols = await engine.all<{ c: string; t: string }>(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = $1 AND table_schema = ${engine.dialect.currentSchema()} ORDER BY ordinal_position`, [table]);
  assert.ok(cols.length, `${table} exists on ${engine.dialect.name}`);
  const q = (c: string) => engine.dialect.quoteIdent(c);
  return engine.all(`SELECT ${cols.map((c) => (/time|date/i.test(c.t) ? `${engine.dialect.toText(q(c.c))} AS ${q(c.c)}` : q(c.c))).join(', ')} FROM ${q(table)}`);
}

/** The rows of a canonical table without the named columns. */
async function rowsWithout(engine: Engine, table: string, drop: string[]): Promise<Row[]> {
  return (await tableRows(engine, table)).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !drop.includes(k))));
}

function reconcile(loads: LoadResult[], truth: GroundTruth, engine: string): void {
  assert.deepEqual(loads.map((l) => l.input).sort(), Object.keys(truth.files).map((f) => `raw/${f}`).sort(), engine);
  for (const l of loads) {
    const t = truth.files[l.input.replace(/^raw\//, '')];
    const got = { lines: l.rows_read, accepted: l.accepted, exact_duplicates: l.duplicates, conflicts: l.conflicts, rejected: l.rejected, rejects_by_reason: l.rejects_by_reason, late: l.late, dst_gap: l.dst_gap, dst_overlap: l.dst_overlap };
    const want = { lines: t.lines, accepted: t.accepted, exact_duplicates: t.exact_duplicates, conflicts: t.conflicts, rejected: t.rejected, rejects_by_reason: t.rejects_by_reason, late: t.late, dst_gap: t.dst_gap, dst_overlap: t.dst_overlap };
    assert.deepEqual(got, want, `${engine}: ${l.input}`);
  }
}

test('the demo ingested by ClickHouse (chdb) itself reconciles with the ground truth and matches DuckDB table for table; a second run changes nothing', { skip: chdbMissing ?? false, timeout: 300_000 }, async () => {
  const dir = tmpDir();
  process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
  try {
    const duckRun = await runDemo({ dir, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    const truth = duckRun.summary.ground_truth as GroundTruth;

    // The same config and raw files on ClickHouse, with its own warehouse, vault and output folder.
    const loaded = loadConfig(path.join(dir, 'pipeline.yaml'));
    const config = loaded.config;
    const ch = {
      ...loaded,
      config: {
        ...config,
        output_dir: 'out-clickhouse',
        privacy: { ...config.privacy, vault: 'vault/pii-clickhouse.vault' },
        engine: { ...config.engine, kind: 'clickhouse' as const, clickhouse: { ...config.engine.clickhouse, path: 'warehouse.chdb' } },
      },
    };
    const chRun = await runPipeline(ch, { asOf: duckRun.summary.as_of });
    reconcile(chRun.ingest.loads, truth, 'clickhouse');
    assert.ok(chRun.ingest.totals.reconciled);
    assert.deepEqual(chRun.ingest.match_rates, duckRun.summary.ingest.match_rates);
    assert.deepEqual(chRun.ingest.unmatched, duckRun.summary.ingest.unmatched);

    const d = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
    const c = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'warehouse.chdb') });
    const counts = async () => Object.fromEntries(await Promise.all(ALL_TABLES.filter((t) => ['events', 'users', 'enrollments', 'assessments', 'hr_records', 'content', 'content_names', 'identity_map', 'identity_links', 'rejects', 'loads', 'loaded_files', 'watermarks', 'labels'].includes(t.name)).map(async (t) => [t.name, Number((await c.one<{ n: number }>(`SELECT count(*) AS n FROM ${t.name}`))?.n)])));
    let before: Record<string, number>;
    try {
      for (const t of ['events', 'users', 'enrollments', 'assessments', 'hr_records', 'content', 'content_names', 'identity_map', 'identity_links', 'watermarks', 'loaded_files', 'spine', 'labels']) {
        assertSameRows(await tableRows(d, t), await tableRows(c, t), t);
      }
      // Every reject at the same file:line, for the same reason and field, with the same raw text. The
      // detail of a malformed line is the CSV reader's own error message, which differs between engines;
      // so does a number's text in a detail (DuckDB writes -5.0, ClickHouse -5).
      const detailAgrees = (r: Row) => (r.reason === 'malformed_line' || r.reason === 'negative_duration' || r.reason === 'score_out_of_range' ? { ...r, detail: null } : r);
      assertSameRows((await tableRows(d, 'rejects')).map(detailAgrees), (await tableRows(c, 'rejects')).map(detailAgrees), 'rejects');
      // Loads: the same ids, inputs, hashes, counts and watermarks.
      assertSameRows(await rowsWithout(d, 'loads', []), await rowsWithout(c, 'loads', []), 'loads');
      for (const t of ['features', 'training']) assertSameRows(await derivedRows(d, t), await derivedRows(c, t), t);
      before = await counts();
    } finally {
      await c.close();
      await d.close();
    }
    const verdicts = (qa: typeof chRun.qa) => qa.filter((x) => x.check_name !== 'volume_change').map((x) => `${x.check_name}|${x.subject}|${x.status}`).sort();
    assert.deepEqual(verdicts(chRun.qa), verdicts(duckRun.summary.qa));

    // Again: every file is known by its hash, nothing is loaded, no table changes.
    const again = await runPipeline(ch, { asOf: duckRun.summary.as_of });
    assert.equal(again.ingest.totals.files_loaded, 0);
    assert.equal(again.ingest.totals.files_skipped, chRun.ingest.loads.length);
    const c2 = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'warehouse.chdb') });
    try {
      assert.deepEqual(await (async () => Object.fromEntries(await Promise.all(Object.keys(before).map(async (t) => [t, Number((await c2.one<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))?.n)]))))(), before);
    } finally {
      await c2.close();
    }
  } finally {
    delete process.env.LEARNPIPE_PSEUDONYM_KEY;
  }
});
