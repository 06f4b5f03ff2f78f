// The ClickHouse engine in server mode (@clickhouse/client over HTTP, one session) against a real
// ClickHouse server: 26.7 from chdb's libchdb.so, started once for this file on a free local port
// (test/helpers/clickhouse-server.ts). What engine-clickhouse.test.ts checks on chdb, and what only a
// server has: a session across HTTP requests, users with passwords, results sent over the wire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { ClickHouseEngine, SESSION_SETTINGS } from '../src/engine/clickhouse.js';
import { EngineError, EngineSetupError } from '../src/engine/engine.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ALL_TABLES } from '../src/schema/canonical.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { copyWarehouse } from '../src/engine/copy.js';
import { addEvents, memoryWarehouse } from './helpers/warehouse.js';
import { assertSameRows, tableRows } from './helpers/engines.js';
import { clickhouseServerMissing, serverQuery, serverWarehouse, startClickHouseServer, type LocalClickHouse } from './helpers/clickhouse-server.js';
import { tmpDir } from './helpers/tmp.js';

const skip = clickhouseServerMissing ?? false;
const PASSWORD = `it's a "pass"\\word`;
let server: LocalClickHouse;

before(async () => {
  if (!skip) server = await startClickHouseServer({ user: 'lp', password: PASSWORD });
});
after(async () => {
  await server?.stop();
});

// Text that breaks naive quoting: quotes of both kinds, backslashes, a newline, a tab, $1 and {p1:String}.
const AWKWARD = [`it's`, `"dq"`, `back\\slash\\`, `line\nbreak\ttab`, `$1 {p1:String} ?`, `ünïcödé ✓`, `'; DROP TABLE events; --`];

test('server: the warehouse schema is created once, and values round-trip bound (quotes, backslashes, newlines)', { skip }, async () => {
  const ch = await serverWarehouse(server);
  try {
    assert.match(ch.location, /^http:\/\/127\.0\.0\.1:\d+\/t\d+_\d+$/);
    assert.equal(ch.readsLocalFiles, false);
    assert.deepEqual(await ensureWarehouse(ch), { created: false });
    const tables = (await ch.all<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = currentDatabase()`)).map((r) => r.t);
    for (const t of ALL_TABLES) assert.ok(tables.includes(t.name), `${t.name} exists`);
    await ch.appendRows('watermarks', [['src', '2024-03-10 02:30:00.123456', 7], ...AWKWARD.map((s, i) => [s, null, 100 + i])]);
    assert.deepEqual(await ch.all(`SELECT source, toString(watermark_utc) AS w, load_id FROM watermarks WHERE source IN ($1, $2) ORDER BY load_id`, ['src', `it's`]), [
      { source: 'src', w: '2024-03-10 02:30:00.123456', load_id: 7 },
      { source: `it's`, w: null, load_id: 100 },
    ]);
    for (const s of AWKWARD) {
      assert.deepEqual(await ch.all(`SELECT $1 AS v, length($1) AS n, load_id FROM watermarks WHERE source = $1`, [s]), [{ v: s, n: Buffer.byteLength(s), load_id: 100 + AWKWARD.indexOf(s) }], JSON.stringify(s));
    }
    // Named parameters, NULL, booleans, floats and integers beyond 2^53 (returned as text).
    assert.deepEqual(await ch.one(`SELECT $a AS a, $b IS NULL AS b, $c AS c, $d AS d, $e AS e, '$a stays' AS f`, { a: `x'y`, b: null, c: true, d: 0.1, e: 9007199254740993n }), {
      a: `x'y`,
      b: 1,
      c: true,
      d: 0.1,
      e: '9007199254740993',
      f: '$a stays',
    });
    await assert.rejects(ch.all(`SELECT $1 AS a, $2 AS b`, ['only one']), /no value bound for \$2/);

    // Many rows, and long values: sent in the request body (as bound parameters they would pass the
    // server's ~1,000 URL fields and 1 MiB URL; SMOTE's rows of the training table did).
    await ch.run(`CREATE TEMPORARY TABLE wide (a String, b Nullable(Int64), c Bool, d Nullable(DateTime64(6, 'UTC')), e Float64)`);
    const rows = Array.from({ length: 3000 }, (_, i) => [`${AWKWARD[i % AWKWARD.length]}${i}`, i % 3 ? i : null, i % 2 === 0, i % 5 ? `2024-01-01 00:00:0${i % 10}.25` : null, i / 8]);
    rows.push(['x'.repeat(2_000_000), 9007199254740993n, true, '2024-02-29 23:59:59.999999', -0.5] as never);
    await ch.appendRows('wide', rows as never);
    assert.deepEqual(await ch.one(`SELECT count() AS n, countIf(b IS NULL) AS nulls, countIf(c) AS t, max(length(a)) AS longest, toString(max(d)) AS latest, sum(e) AS s FROM wide`), {
      n: 3001,
      nulls: 1000,
      t: 1501,
      longest: 2_000_000,
      latest: '2024-02-29 23:59:59.999999',
      s: rows.reduce((x, r) => x + (r[4] as number), 0),
    });
    assert.equal((await ch.one<{ b: string }>(`SELECT toString(b) AS b FROM wide WHERE length(a) > 100`))?.b, '9007199254740993');
    assert.deepEqual(await ch.one(`SELECT a, b, c FROM wide WHERE b = 4`), { a: `${AWKWARD[4]}4`, b: 4, c: true });
  } finally {
    await ch.close();
  }
});

test('server: one session across requests: SET, temporary tables and learnpipe\'s session settings last', { skip }, async () => {
  const ch = await serverWarehouse(server);
  const other = await serverWarehouse(server);
  try {
    for (const [k, v] of Object.entries(SESSION_SETTINGS)) {
      const got = (await ch.one<{ v: string }>(`SELECT toString(getSetting($1)) AS v`, [k]))?.v;
      assert.equal(got === 'true' ? '1' : got === 'false' ? '0' : got, String(v), `session setting ${k}`);
    }
    await ch.run(`SET max_threads = 3`);
    assert.equal((await ch.one<{ v: number }>(`SELECT getSetting('max_threads') AS v`))?.v, 3);
    await ch.run(`CREATE TEMPORARY TABLE scratch (k String, n Int64) ENGINE = Memory`);
    await ch.appendRows('scratch', [[`a'`, 1], ['b', 2]]);
    await ch.run(`INSERT INTO scratch SELECT k, n * 10 FROM scratch`);
    assert.deepEqual(await ch.all(`SELECT k, sum(n) AS s FROM scratch GROUP BY k ORDER BY k`), [
      { k: `a'`, s: 11 },
      { k: 'b', s: 22 },
    ]);
    // A temporary table belongs to its session: another engine (session) does not see it.
    await assert.rejects(other.all(`SELECT * FROM scratch`), (err: Error) => err instanceof EngineError && /scratch/.test(err.message));
    // The session's settings reach what stage code relies on: NULL-safe IN and outer joins with NULLs.
    assert.deepEqual(await ch.one(`SELECT NULL IN (SELECT CAST(NULL AS Nullable(Int32))) AS in_null, r.x IS NULL AS unmatched FROM (SELECT 1 AS k) l LEFT JOIN (SELECT 2 AS k, 5 AS x) r ON l.k = r.k`), { in_null: 1, unmatched: 1 });
    // A DELETE is visible to the next statement (mutations_sync, lightweight_deletes_sync).
    await ch.appendRows('watermarks', [['a', null, 1], ['b', null, 2]]);
    await ch.run(`DELETE FROM watermarks WHERE source = $1`, ['a']);
    assert.deepEqual(await ch.all(`SELECT source FROM watermarks`), [{ source: 'b' }]);
  } finally {
    await other.close();
    await ch.close();
  }
});

test('server: a session that ended is an error, not a fresh session without the temporary tables', { skip }, async () => {
  const db = `t${process.pid}_session`;
  await serverQuery(server, `CREATE DATABASE ${db}`);
  const ch = await ClickHouseEngine.open({ mode: 'server', url: server.url, database: db, sessionTimeout: 1 });
  try {
    await ch.run(`CREATE TEMPORARY TABLE kept (x Int8)`);
    // The server closes idle sessions from a background thread that wakes about once a second, so a
    // 1 s session may live 2-3 s, more on a busy machine (2.5 s failed once in CI): wait well past it.
    await new Promise((r) => setTimeout(r, 6000));
    await assert.rejects(ch.all(`SELECT count() AS n FROM kept`), (err: Error) => {
      assert.ok(err instanceof EngineError);
      assert.match(err.message, /^the ClickHouse session ended \(idle for more than 1 s, the server restarted, or a load balancer sent this request to another server\): its temporary tables are gone/);
      return true;
    });
  } finally {
    await ch.close();
  }
});

test('server: exportTo writes Parquet and CSV to this machine; insertParquet sends a local file\'s rows', { skip }, async () => {
  const dir = tmpDir();
  const ch = await serverWarehouse(server);
  const duck = await DuckDBEngine.open(':memory:');
  try {
    await ch.appendRows('watermarks', [['src', '2024-03-10 02:30:00.5', 7], [`it's "x"\n`, null, 8]]);
    const pq = path.join(dir, 'w.parquet');
    await ch.exportTo(`SELECT source, watermark_utc, load_id FROM watermarks WHERE load_id >= $1 ORDER BY load_id`, pq, 'parquet', [7]);
    assert.equal(readFileSync(pq).subarray(0, 4).toString(), 'PAR1');
    assert.deepEqual(await duck.all(`SELECT source, CAST(watermark_utc AS VARCHAR) AS w, load_id FROM read_parquet('${pq}') ORDER BY load_id`), [
      { source: 'src', w: '2024-03-10 02:30:00.5+00', load_id: 7 },
      { source: `it's "x"\n`, w: null, load_id: 8 },
    ]);
    const csv = path.join(dir, 'w.csv');
    await ch.exportTo(`SELECT source, load_id FROM watermarks ORDER BY load_id`, csv, 'csv');
    assert.equal(readFileSync(csv, 'utf8'), `"source","load_id"\n"src",7\n"it's ""x""\n",8\n`);
    // Byte-identical run to run (one writer thread, zstd).
    const again = path.join(dir, 'again.parquet');
    await ch.exportTo(`SELECT source, watermark_utc, load_id FROM watermarks WHERE load_id >= $1 ORDER BY load_id`, again, 'parquet', [7]);
    assert.deepEqual(readFileSync(again), readFileSync(pq));

    // insertParquet: a Parquet file written by DuckDB (columns by name, in another order) sent to the server.
    const src = path.join(dir, 'from-duck.parquet');
    await duck.run(`COPY (SELECT 9 AS load_id, 'duck''s' AS source, TIMESTAMP '2024-01-02 03:04:05.000006' AS watermark_utc UNION ALL SELECT 10, 'x', NULL) TO '${src}' (FORMAT parquet)`);
    await ch.insertParquet('watermarks', ['source', 'watermark_utc', 'load_id'], src);
    assert.deepEqual(await ch.all(`SELECT source, toString(watermark_utc) AS w FROM watermarks WHERE load_id >= 9 ORDER BY load_id`), [
      { source: `duck's`, w: '2024-01-02 03:04:05.000006' },
      { source: 'x', w: null },
    ]);
    await assert.rejects(ch.insertParquet('watermarks; DROP TABLE x', ['source'], src), /table or column name/);
  } finally {
    await duck.close();
    await ch.close();
  }
});

test('server: errors name the statement, also when the error comes after the first rows', { skip }, async () => {
  const ch = await serverWarehouse(server);
  try {
    await assert.rejects(ch.run(`SELECT no_such_column FROM watermarks`), (err: Error) => {
      assert.ok(err instanceof EngineError);
      assert.match(err.message, /no_such_column[\s\S]*--- while running:\nSELECT no_such_column FROM watermarks/);
      return true;
    });
    // The server has sent rows before the failure: the message is still ClickHouse's, not "aborted".
    const late = `SELECT throwIf(number = 15, 'late failure') + number AS x FROM numbers(20) WHERE sleepEachRow(0.01) = 0 SETTINGS max_block_size = 1`;
    await assert.rejects(ch.all(late), /late failure[\s\S]*--- while running:/);
    await assert.rejects(ch.exportTo(late, path.join(tmpDir(), 'x.parquet'), 'parquet'), /late failure/);
    await assert.rejects(ch.run(`INSERT INTO watermarks SELECT 'x', NULL, throwIf(number = 15, 'late failure') + number FROM numbers(20) WHERE sleepEachRow(0.01) = 0 SETTINGS max_block_size = 1`), /late failure/);
    // A missing local file, or a table the server lacks: errors of the call, naming it.
    const missing = path.join(tmpDir(), 'missing.parquet');
    await assert.rejects(ch.insertParquet('watermarks', ['source'], missing), (err: Error) => err instanceof EngineError && /ENOENT[\s\S]*while running:\nINSERT INTO watermarks/.test(err.message));
    const pq = path.join(tmpDir(), 'one.parquet');
    await ch.exportTo(`SELECT 'x' AS a`, pq, 'parquet');
    await assert.rejects(ch.insertParquet('no_such_table', ['a'], pq), (err: Error) => err instanceof EngineError && /no_such_table[\s\S]*while running:\nINSERT INTO no_such_table/.test(err.message));
  } finally {
    await ch.close();
  }
});

test('server: users and passwords; opening fails clearly (wrong password, no database, no server), without credentials in the message', { skip }, async () => {
  const db = `t${process.pid}_auth`;
  await serverQuery(server, `CREATE DATABASE ${db}`);
  const ch = await ClickHouseEngine.open({ mode: 'server', url: server.url, database: db, username: 'lp', password: PASSWORD });
  try {
    assert.deepEqual(await ch.one(`SELECT currentUser() AS u, currentDatabase() AS d`), { u: 'lp', d: db });
  } finally {
    await ch.close();
  }
  // Credentials in the URL win over the options; the engine's location never shows them.
  const port = new URL(server.url).port;
  const viaUrl = await ClickHouseEngine.open({ mode: 'server', url: `http://lp:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, database: db, username: 'nobody', password: 'wrong' });
  try {
    assert.equal((await viaUrl.one<{ u: string }>(`SELECT currentUser() AS u`))?.u, 'lp');
    assert.equal(viaUrl.location, `http://127.0.0.1:${port}/${db}`);
  } finally {
    await viaUrl.close();
  }
  const refused = async (o: Partial<Parameters<typeof ClickHouseEngine.open>[0]>, pattern: RegExp) =>
    assert.rejects(ClickHouseEngine.open({ mode: 'server', url: server.url, database: db, ...o }), (err: Error) => {
      assert.ok(err instanceof EngineSetupError, err.message);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('wrong-secret'), err.message);
      return true;
    });
  await refused({ username: 'lp', password: 'wrong-secret' }, /^cannot open the ClickHouse warehouse http:\/\/127\.0\.0\.1:\d+\/t\d+_auth: lp: Authentication failed/);
  await refused({ url: `http://lp:wrong-secret@127.0.0.1:${port}` }, /^cannot open the ClickHouse warehouse http:\/\/127\.0\.0\.1:\d+\/t\d+_auth: lp: Authentication failed/);
  await refused({ database: 'learnpipe_missing' }, /Database learnpipe_missing does not exist.*create it first: CREATE DATABASE "learnpipe_missing"/);
  await refused({ url: 'http://127.0.0.1:9' }, /cannot open the ClickHouse warehouse http:\/\/127\.0\.0\.1:9\/t\d+_auth: .*ECONNREFUSED/);
});

test('server: canonical tables copied from DuckDB hold the same rows', { skip }, async () => {
  const duck = await memoryWarehouse();
  const ch = await serverWarehouse(server);
  try {
    await addEvents(duck, [
      ['A', '2024-01-01 10:00:00.123456', 'view', `c'1`, 60.5],
      ['A', '2024-01-02 00:00:00', 'quiz_start', null, null],
      ['B', '2023-12-31 23:59:59', 'login'],
    ]);
    await copyWarehouse(duck, ch, ['events', 'loads']);
    assertSameRows(await tableRows(duck, 'events'), await tableRows(ch, 'events'), 'events');
    assertSameRows(await tableRows(duck, 'loads'), await tableRows(ch, 'loads'), 'loads');
    // Copying again replaces the rows (the tables are emptied first).
    await copyWarehouse(duck, ch, ['events']);
    assert.equal((await ch.one<{ n: number }>(`SELECT count() AS n FROM events`))?.n, 3);
  } finally {
    await ch.close();
    await duck.close();
  }
});
