// Issue 9's equivalence: the demo data set through both engines. DuckDB ingests and runs every stage;
// its canonical tables are copied into ClickHouse (chdb), where the same run (--no-ingest) builds the
// tiles, spine, features, labels and training table. Every table must hold the same rows (sorted;
// floats within 1e-9 relative), and the QA gate must reach the same verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { runDemo } from '../src/cli/demo.js';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { copyWarehouse } from '../src/engine/copy.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { runPipeline } from '../src/pipeline.js';
import { replayRun } from '../src/quality/history.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';
import { assertSameRows, chdbMissing, derivedRows, tableRows } from './helpers/engines.js';

const quiet = { info() {}, warn() {}, error() {} } as never;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('the demo data set gives the same canonical tables, features, labels and training table on DuckDB and ClickHouse', { skip: chdbMissing ?? false, timeout: 240_000 }, async () => {
  const dir = tmpDir();
  process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
  try {
    const duckRun = await runDemo({ dir, users: 80, days: 70, seed: 11, start: '2024-02-01', log: quiet });
    assert.ok(duckRun.summary.modeling?.training, 'the demo builds a training table');

    // The same config on ClickHouse, publishing into its own folder.
    const loaded = loadConfig(path.join(dir, 'pipeline.yaml'));
    const ch = { ...loaded, config: { ...loaded.config, output_dir: 'out-clickhouse', engine: { ...loaded.config.engine, kind: 'clickhouse' as const, clickhouse: { ...loaded.config.engine.clickhouse, path: 'warehouse.chdb' } } } };
    const duck = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
    const click = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'warehouse.chdb') });
    await ensureWarehouse(click);
    await copyWarehouse(duck, click);
    await click.close();
    await duck.close();
    const chRun = await runPipeline(ch, { asOf: duckRun.summary.as_of, ingest: false });
    const outputs = ['features.parquet', 'labels.parquet', 'training.parquet'].map((f) => path.join(dir, 'out-clickhouse', f));
    const first = outputs.map(sha256);
    // Idempotent on ClickHouse: a second run (which also checks drift against the first's features) publishes the same bytes.
    const again = await runPipeline(ch, { asOf: duckRun.summary.as_of, ingest: false });
    assert.deepEqual(outputs.map(sha256), first);
    assert.ok(again.qa.some((x) => x.check_name === 'feature_drift' && x.status === 'pass' && x.value === 0), 'drift measured against the previous run: none');
    // Replay rebuilds each engine's run on a scratch copy (tiles from scratch, the baseline model refitted): same bytes.
    for (const [cfg, runId] of [[loaded, duckRun.summary.run_id], [ch, again.run_id]] as const) {
      const r = await replayRun(cfg, runId);
      assert.deepEqual(r.different, [], `${cfg.config.engine.kind}: replay of ${runId}`);
      assert.ok(r.compared >= 8, `${r.compared} files compared`);
    }

    const d = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
    const c = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'warehouse.chdb') });
    try {
      for (const t of ['events', 'users', 'enrollments', 'assessments', 'hr_records', 'content', 'identity_map', 'user_day', 'user_day_assessments', 'sessions', 'quiz_first_starts', 'spine', 'labels']) {
        assertSameRows(await tableRows(d, t), await tableRows(c, t), t);
      }
      for (const t of ['features', 'training']) assertSameRows(await derivedRows(d, t), await derivedRows(c, t), t);
      const verdicts = (qa: typeof chRun.qa) => qa.filter((x) => x.check_name !== 'volume_change').map((x) => `${x.check_name}|${x.subject}|${x.status}`).sort();
      assert.deepEqual(verdicts(chRun.qa), verdicts(duckRun.summary.qa));
    } finally {
      await c.close();
      await d.close();
    }
  } finally {
    delete process.env.LEARNPIPE_PSEUDONYM_KEY;
  }
});
