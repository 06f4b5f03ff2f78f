// The ClickHouse engine itself: placeholders, results, the warehouse schema on chdb, copying canonical
// tables across engines. (Stage-by-stage equivalence lives with each stage's tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindPlaceholders, parseRows } from '../src/engine/clickhouse.js';
import { ClickHouseDialect } from '../src/engine/dialects/clickhouse.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ALL_TABLES, events } from '../src/schema/canonical.js';
import { addEvents, memoryWarehouse } from './helpers/warehouse.js';
import { assertSameRows, chdbMissing, chdbWarehouse, copyTables, tableRows } from './helpers/engines.js';

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
    await copyTables(duck, ch, ['events', 'loads']);
    assertSameRows(await tableRows(duck, 'events'), await tableRows(ch, 'events'), 'events');
    assertSameRows(await tableRows(duck, 'loads'), await tableRows(ch, 'loads'), 'loads');
  } finally {
    await ch.close();
    await duck.close();
  }
});
