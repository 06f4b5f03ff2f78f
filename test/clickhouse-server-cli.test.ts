// The ClickHouse server mode end to end through the CLI, as a user would run it: the demo ingested and
// run on DuckDB, its canonical tables copied to a ClickHouse server with `copy-to-clickhouse`, then
// `learnpipe run --engine clickhouse --no-ingest` there, with the server's URL and password from the
// environment. The published features, labels and training table, the warehouse tables and the QA
// verdicts must match the DuckDB run's (floats within 1e-9 relative). And what a server refuses
// (ingesting this machine's files, replay) says so. One real server (ClickHouse 26.7 from chdb's
// libchdb.so, test/helpers/clickhouse-server.ts) for the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import type { Engine, Row } from '../src/engine/engine.js';
import { assertSameRows, derivedRows, tableRows } from './helpers/engines.js';
import { clickhouseServerMissing, serverQuery, startClickHouseServer, type LocalClickHouse } from './helpers/clickhouse-server.js';
import { tmpDir, TEST_KEY_HEX } from './helpers/tmp.js';

const skip = clickhouseServerMissing ?? false;
const ROOT = path.resolve(import.meta.dirname, '..');
const PASSWORD = `s3cret'"\\pw`;
const DATABASE = 'learnpipe';
let server: LocalClickHouse;
let dir: string;
let config: string;
let env: Record<string, string>;

/** The CLI in a child process (asynchronously: this process keeps the server's pipes drained meanwhile). */
function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), ...args], { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  if (skip) return;
  server = await startClickHouseServer({ user: 'lp', password: PASSWORD });
  await serverQuery(server, `CREATE DATABASE ${DATABASE}`);
  dir = tmpDir();
  config = path.join(dir, 'pipeline.yaml');
  // What a user sets: the URL and the password in the environment, the user and database in the config.
  env = { LEARNPIPE_CLICKHOUSE_URL: server.url, LEARNPIPE_CLICKHOUSE_PASSWORD: PASSWORD };
});
after(async () => {
  await server?.stop();
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const verdicts = (qa: Array<{ check_name: string; subject: string; status: string }>) =>
  qa.filter((x) => x.check_name !== 'volume_change').map((x) => `${x.check_name}|${x.subject}|${x.status}`).sort();

/** A published Parquet file's rows, read by DuckDB, timestamps as UTC text. */
async function parquetRows(duck: Engine, file: string): Promise<Row[]> {
  const cols = await duck.all<{ n: string; t: string }>(`SELECT column_name AS n, column_type AS t FROM (DESCRIBE SELECT * FROM read_parquet('${file}'))`);
  const q = (c: string) => duck.dialect.quoteIdent(c);
  const sel = cols.map((c) => (/TIMESTAMP|DATE/.test(c.t) ? `CAST(${/WITH TIME ZONE/.test(c.t) ? `timezone('UTC', ${q(c.n)})` : q(c.n)} AS VARCHAR) AS ${q(c.n)}` : q(c.n)));
  return duck.all(`SELECT ${sel.join(', ')} FROM read_parquet('${file}')`);
}

test('CLI: demo on DuckDB, copy-to-clickhouse to a server, run --engine clickhouse --no-ingest there: the same features, labels and training table', { skip, timeout: 300_000 }, async () => {
  const demo = await cli(['--json', 'demo', '--dir', dir, '--users', '80', '--days', '70', '--seed', '11']);
  assert.equal(demo.code, 0, demo.stderr);
  const duckRun = JSON.parse(demo.stdout) as { as_of: string; run_id: string; qa: Array<{ check_name: string; subject: string; status: string }> };
  cpSync(path.join(dir, 'out'), path.join(dir, 'out-duckdb'), { recursive: true });
  appendFileSync(config, `\nengine:\n  clickhouse: { database: ${DATABASE}, user: lp }\n`);

  const copy = await cli(['--json', '--engine', 'clickhouse', 'copy-to-clickhouse', '-c', config], env);
  assert.equal(copy.code, 0, copy.stderr);
  const copied = JSON.parse(copy.stdout) as { to: string; tables: Array<{ table: string; rows: number }> };
  assert.equal(copied.to, `${server.url}/${DATABASE}`, 'the server, without credentials');
  assert.ok((copied.tables.find((t) => t.table === 'events')?.rows ?? 0) > 1000, 'events copied');
  assert.equal(copy.stderr, '', 'nothing on stderr (no client warnings)');

  const run = await cli(['--json', '--engine', 'clickhouse', 'run', '--no-ingest', '-c', config, '--as-of', duckRun.as_of], env);
  assert.equal(run.code, 0, run.stderr);
  const chRun = JSON.parse(run.stdout) as { warehouse: string; run_id: string; outputs: string[]; qa: Array<{ check_name: string; subject: string; status: string }> };
  assert.equal(chRun.warehouse, `${server.url}/${DATABASE}`);
  // Drift is measured against the previous published features, here the DuckDB run's: none.
  const drift = chRun.qa.filter((x) => x.check_name === 'feature_drift');
  assert.ok(drift.length > 0 && drift.every((x) => x.status === 'pass'), 'no drift from the DuckDB run\'s features');
  assert.deepEqual(verdicts(chRun.qa.filter((x) => x.check_name !== 'feature_drift')), verdicts(duckRun.qa));
  assert.ok(!run.stdout.includes(PASSWORD) && !run.stderr.includes(PASSWORD), 'the password appears nowhere');

  const duck = await DuckDBEngine.open(':memory:');
  try {
    await duck.run(`SET TimeZone = 'UTC'`);
    for (const f of ['features.parquet', 'labels.parquet', 'training.parquet']) {
      const rows = await parquetRows(duck, path.join(dir, 'out', f));
      assert.ok(rows.length > 0, `${f} has rows`);
      assertSameRows(await parquetRows(duck, path.join(dir, 'out-duckdb', f)), rows, f);
    }
  } finally {
    await duck.close();
  }
  const d = await DuckDBEngine.open(path.join(dir, 'warehouse.duckdb'));
  const c = await ClickHouseEngine.open({ mode: 'server', url: server.url, database: DATABASE, username: 'lp', password: PASSWORD });
  try {
    for (const t of ['events', 'users', 'user_day', 'user_day_assessments', 'sessions', 'quiz_first_starts', 'spine', 'labels']) assertSameRows(await tableRows(d, t), await tableRows(c, t), t);
    for (const t of ['features', 'training']) assertSameRows(await derivedRows(d, t), await derivedRows(c, t), t);
  } finally {
    await c.close();
    await d.close();
  }

  // Idempotent on the server: a second run publishes the same bytes; both runs are listed.
  const outputs = ['features.parquet', 'labels.parquet', 'training.parquet'].map((f) => path.join(dir, 'out', f));
  const first = outputs.map(sha256);
  const again = await cli(['--json', '--engine', 'clickhouse', 'run', '--no-ingest', '-c', config, '--as-of', duckRun.as_of], env);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(outputs.map(sha256), first);
  const runs = await cli(['--json', '--engine', 'clickhouse', 'runs', '-c', config], env);
  assert.equal(runs.code, 0, runs.stderr);
  assert.ok(runs.stdout.includes(chRun.run_id), runs.stdout);
  const qa = await cli(['--json', '--engine', 'clickhouse', 'qa', '-c', config, '--as-of', duckRun.as_of], env);
  assert.equal(qa.code, 0, qa.stderr);
  // Replay rebuilds a run on a scratch copy of the warehouse (a DuckDB file, a chdb folder): not a server's.
  const replay = await cli(['--engine', 'clickhouse', 'replay', chRun.run_id, '-c', config], env);
  assert.equal(replay.code, 2, replay.stderr);
  assert.match(replay.stderr, /^error: replay on a ClickHouse server is not available: it rebuilds on a scratch copy of the warehouse/m);
});

test('CLI: what a ClickHouse server refuses says so (exit 2): ingesting this machine\'s files, a cluster, a bad URL or password', { skip, timeout: 120_000 }, async () => {
  const own = path.join(tmpDir(), 'pipeline.yaml');
  writeFileSync(own, `warehouse: wh.duckdb\nsources:\n  - name: lms\n    format: csv\n    path: events.csv\n    target: events\n    fields: { event_id: id, user: { column: u, kind: lms_id }, event_type: t, timestamp: { column: ts, format: iso } }\nengine:\n  clickhouse: { database: ${DATABASE}, user: lp }\n`);
  writeFileSync(path.join(path.dirname(own), 'events.csv'), 'id,u,t,ts\n1,x,view,2024-01-01T00:00:00Z\n');
  const keyEnv = { ...env, LEARNPIPE_PSEUDONYM_KEY: TEST_KEY_HEX };
  const ingest = await cli(['--engine', 'clickhouse', 'ingest', '-c', own], keyEnv);
  assert.equal(ingest.code, 2, ingest.stderr);
  assert.match(ingest.stderr, /^error: a ClickHouse server \(http:\/\/127\.0\.0\.1:\d+\/learnpipe\) cannot read this machine's source files: ingest in-process with chdb .* copy-to-clickhouse.*--no-ingest/m);
  // `run` ingests first: refused the same way, before anything is built.
  const run = await cli(['--engine', 'clickhouse', 'run', '-c', own, '--as-of', '2024-05-01'], keyEnv);
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /cannot read this machine's source files/);
  // A cluster (Distributed tables): refused before anything is written.
  writeFileSync(path.join(path.dirname(own), 'cluster.yaml'), readFileSync(own, 'utf8').replace('user: lp }', 'user: lp, cluster: lp_cluster }'));
  const cluster = await cli(['--engine', 'clickhouse', 'run', '--no-ingest', '-c', path.join(path.dirname(own), 'cluster.yaml')], keyEnv);
  assert.equal(cluster.code, 2, cluster.stderr);
  assert.match(cluster.stderr, /^error: engine\.clickhouse\.cluster \(lp_cluster\) is not supported yet/m);
  // A wrong password, a URL that is not one: clear errors, no stack, no password echoed.
  const wrong = await cli(['--engine', 'clickhouse', 'runs', '-c', own], { ...env, LEARNPIPE_CLICKHOUSE_PASSWORD: 'not-the-password' });
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /^error: cannot open the ClickHouse warehouse http:\/\/127\.0\.0\.1:\d+\/learnpipe: lp: Authentication failed/m);
  assert.ok(!wrong.stderr.includes('not-the-password'));
  const badUrl = await cli(['--engine', 'clickhouse', 'runs', '-c', own], { ...env, LEARNPIPE_CLICKHOUSE_URL: 'ch.example.edu:8123' });
  assert.equal(badUrl.code, 2, badUrl.stderr);
  assert.match(badUrl.stderr, /^error: the ClickHouse server URL \(engine.clickhouse.url or LEARNPIPE_CLICKHOUSE_URL\) is not an http:\/\/ or https:\/\/ URL/m);
});
