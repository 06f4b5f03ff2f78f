// The ClickHouse engine itself: placeholders, results, the warehouse schema on chdb, copying canonical
// tables across engines. (Stage-by-stage equivalence lives with each stage's tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindPlaceholders, parseRows } from '../src/engine/clickhouse.js';
import { ClickHouseDialect } from '../src/engine/dialects/clickhouse.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ALL_TABLES, events } from '../src/schema/canonical.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { EngineSetupError } from '../src/engine/engine.js';
import { openDuckDBWarehouse } from '../src/pipeline.js';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { addEvents, memoryWarehouse } from './helpers/warehouse.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';
import { copyWarehouse } from '../src/engine/copy.js';
import { assertSameRows, chdbMissing, chdbWarehouse, tableRows } from './helpers/engines.js';

const ROOT = path.resolve(import.meta.dirname, '..');
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('placeholders become typed ClickHouse parameters; quoted text is left alone', () => {
  const b = bindPlaceholders(`SELECT '$1 stays', "$2", $1 AS a, $2 AS b, $3 AS c, $4 AS d, $10 AS e FROM t WHERE x = 'it''s $3'`, ['x', 2, 1.5, null, 0, 0, 0, 0, 0, true]);
  assert.equal(b.sql, `SELECT '$1 stays', "$2", {p1:String} AS a, {p2:Int64} AS b, {p3:Float64} AS c, {p4:Nullable(String)} AS d, {p10:Bool} AS e FROM t WHERE x = 'it''s $3'`);
  assert.deepEqual(b.values, { p1: 'x', p2: 2, p3: 1.5, p4: null, p10: true });
  assert.deepEqual(bindPlaceholders('SELECT $name', { name: 'n' }), { sql: 'SELECT {name:String}', values: { name: 'n' } });
  assert.throws(() => bindPlaceholders('SELECT $2', ['only one']), /no value bound for \$2/);
});

test('results: 64-bit integers become numbers when safe, stay strings otherwise', () => {
  const rows = parseRows('["a","b","c"]\n["Int64","Nullable(UInt64)","String"]\n["5","18446744073709551615","x"]\n');
  assert.deepEqual(rows, [{ a: 5, b: '18446744073709551615', c: 'x' }]);
});

test('DDL: MergeTree ordered by the non-null key; Distributed over ReplicatedMergeTree on a cluster', () => {
  const single = new ClickHouseDialect().createTableStatements(events);
  assert.equal(single.length, 1);
  assert.match(single[0], /ENGINE = MergeTree ORDER BY \("event_id"\)/);
  assert.match(single[0], /"object_id" Nullable\(String\)/);
  const cluster = new ClickHouseDialect('lp').createTableStatements(events);
  assert.match(cluster[0], /CREATE TABLE "events_local" ON CLUSTER 'lp' .* ENGINE = ReplicatedMergeTree ORDER BY \("event_id"\)/s);
  assert.match(cluster[1], /CREATE TABLE "events" ON CLUSTER 'lp' AS "events_local" ENGINE = Distributed\('lp', currentDatabase\(\), 'events_local', cityHash64\("event_id"\)\)/);
  assert.equal(new ClickHouseDialect().quoteString(`a'b\\c`), `'a\\'b\\\\c'`);
});

test('a cluster is refused before anything is created, with the reason and the way through', async () => {
  await assert.rejects(ClickHouseEngine.open({ mode: 'server', url: 'http://127.0.0.1:9', cluster: 'lp' }), (err: Error) => {
    assert.ok(err instanceof EngineSetupError);
    assert.match(err.message, /^engine\.clickhouse\.cluster \(lp\) is not supported yet: on Distributed tables ClickHouse has no lightweight DELETE and no correlated subqueries.*one server of the cluster without `cluster:`/);
    return true;
  });
});

test('chdb: the warehouse schema is created once, and values round-trip bound', { skip: chdbMissing ?? false }, async () => {
  const ch = await chdbWarehouse();
  try {
    assert.deepEqual(await ensureWarehouse(ch), { created: false });
    const tables = (await ch.all<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = currentDatabase()`)).map((r) => r.t);
    for (const t of ALL_TABLES) assert.ok(tables.includes(t.name), `${t.name} exists`);
    await ch.appendRows('watermarks', [['src', '2024-03-10 02:30:00', 7], ["it's", null, 8]]);
    assert.deepEqual(await ch.all(`SELECT source, toString(watermark_utc) AS w, load_id FROM watermarks WHERE source IN ($1, $2) ORDER BY load_id`, ['src', "it's"]), [
      { source: 'src', w: '2024-03-10 02:30:00.000000', load_id: 7 },
      { source: "it's", w: null, load_id: 8 },
    ]);
  } finally {
    await ch.close();
  }
});

test('chdb: canonical tables copied from DuckDB hold the same rows', { skip: chdbMissing ?? false }, async () => {
  const duck = await memoryWarehouse();
  const ch = await chdbWarehouse();
  try {
    await addEvents(duck, [
      ['A', '2024-01-01 10:00:00.123456', 'view', 'c1', 60.5],
      ['A', '2024-01-02 00:00:00', 'quiz_start', null, null],
      ['B', '2023-12-31 23:59:59', 'login'],
    ]);
    await copyWarehouse(duck, ch, ['events', 'loads']);
    assertSameRows(await tableRows(duck, 'events'), await tableRows(ch, 'events'), 'events');
    assertSameRows(await tableRows(duck, 'loads'), await tableRows(ch, 'loads'), 'loads');
  } finally {
    await ch.close();
    await duck.close();
  }
});

test('CLI: copy-to-clickhouse moves a DuckDB warehouse into chdb; chdb ingests file sources; a connector on ClickHouse is refused with the way through', { skip: chdbMissing ?? false }, async () => {
  const dir = tmpDir();
  const duck = await DuckDBEngine.open(path.join(dir, 'wh.duckdb'));
  await ensureWarehouse(duck);
  await addEvents(duck, [
    ['A', '2024-01-01 10:00:00', 'view', 'c1', 60],
    ['B', '2024-01-02 11:00:00', 'login'],
  ]);
  await duck.close();
  const events = `sources:\n  - name: lms\n    format: csv\n    path: events.csv\n    target: events\n    fields: { event_id: id, user: { column: u, kind: lms_id }, event_type: t, timestamp: { column: ts, format: iso } }\n`;
  writeFileSync(path.join(dir, 'events.csv'), 'id,u,t,ts\n1,x,view,2024-01-01T00:00:00Z\n');
  writeFileSync(path.join(dir, 'pipeline.yaml'), `warehouse: wh.duckdb\nengine: { kind: clickhouse, clickhouse: { path: wh.chdb } }\n${events}`);
  const env = { LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX };
  const copy = cli(['--json', 'copy-to-clickhouse', '-c', path.join(dir, 'pipeline.yaml')], env);
  assert.equal(copy.code, 0, copy.stderr);
  const copied = JSON.parse(copy.stdout) as { tables: Array<{ table: string; rows: number }> };
  assert.equal(copied.tables.find((t) => t.table === 'events')?.rows, 2);
  assert.equal(copied.tables.find((t) => t.table === 'loads')?.rows, 1);

  const ch = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'wh.chdb') });
  const duck2 = await DuckDBEngine.open(path.join(dir, 'wh.duckdb'));
  try {
    assertSameRows(await tableRows(duck2, 'events'), await tableRows(ch, 'events'), 'events');
  } finally {
    await ch.close();
    await duck2.close();
  }
  // File sources: chdb reads and normalises them itself.
  const ingest = cli(['--json', 'ingest', '--engine', 'clickhouse', '-c', path.join(dir, 'pipeline.yaml')], env);
  assert.equal(ingest.code, 0, ingest.stderr);
  assert.equal((JSON.parse(ingest.stdout) as { totals: { accepted: number } }).totals.accepted, 1);
  // Connectors load through DuckDB only: refused before anything is written, with the way through.
  writeFileSync(path.join(dir, 'pipeline.yaml'), `warehouse: wh.duckdb\nengine: { kind: clickhouse, clickhouse: { path: wh.chdb } }\n${events}connectors:\n  - { name: cal, kind: caliper, path: "raw/*.json*" }\n`);
  const run = cli(['run', '-c', path.join(dir, 'pipeline.yaml'), '--as-of', '2024-02-01'], env);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /ingestion into clickhouse reads file sources only; cal \(caliper\) load through DuckDB.*copy-to-clickhouse.*--no-ingest/s);
  // Commands that run on DuckDB only refuse a ClickHouse warehouse with a usage error, not a SQL one.
  await assert.rejects(openDuckDBWarehouse(loadConfig(path.join(dir, 'pipeline.yaml')), 'keys rotate'), (err: Error) => err instanceof EngineSetupError && /keys rotate runs on DuckDB only/.test(err.message));
  const bad = cli(['run', '--engine', 'oracle', '-c', path.join(dir, 'pipeline.yaml')], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Allowed choices are duckdb, clickhouse/);
});
