// One measured feature run in its own process (peak RSS is this workload's alone).
// Usage:
//   tsx bench/features-worker.ts prepare <events.csv> <dir>   load the log (and one more day) into warehouses (not timed)
//   tsx bench/features-worker.ts full <dir>                   tiles from scratch + spine + features + Parquet (timed)
//   tsx bench/features-worker.ts incremental <dir>            one more day loaded: incremental tiles + spine + features + Parquet (timed)
//   tsx bench/features-worker.ts prepare-chdb <dir>           copy base.duckdb's canonical tables into a chdb warehouse (not timed)
//   tsx bench/features-worker.ts full-chdb <dir>              the full run on ClickHouse (chdb, in-process) (timed)
//   tsx bench/features-worker.ts check <dir> <ref.parquet> [features.parquet]   compare learnpipe's values with the reference's
// The features are those of ../shared/bench/ref_duckdb.sql, for every learner at the same four cutoffs.
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Engine } from '../src/engine/engine.js';
import { ClickHouseEngine } from '../src/engine/clickhouse.js';
import { copyWarehouse } from '../src/engine/copy.js';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ingest } from '../src/normalize/ingest.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';
import { updateTiles } from '../src/features/tiles.js';
import { buildSpine, computeFeatures } from '../src/features/compute.js';
import { resolveFeatures, tileEventTypes } from '../src/features/library.js';
import { spineSchema } from '../src/config/modeling.js';
import { copyToParquet } from '../src/exports/outputs.js';

const [mode, a, b] = process.argv.slice(2);
const threads = Number(process.env.THREADS ?? '2');
const pz = new Pseudonymizer(Buffer.alloc(32, 7));
const SPECS = resolveFeatures([
  'total_events', 'total_time', { kind: 'active_days', window_days: 7 }, { kind: 'active_days', window_days: 30 },
  { kind: 'events', window_days: 7 }, { kind: 'events', window_days: 30 }, 'first_to_last_gap', 'recency', 'attempts_per_quiz', 'sessions',
]);
const SPINE = spineSchema.parse({ dates: ['2024-03-01', '2024-05-01', '2024-07-01', '2024-09-01'], population: 'all_users' });
const config = (csv: string) => `warehouse: wh.duckdb
engine: { threads: ${threads}, memory_limit: ${process.env.BENCH_MEMORY_LIMIT ?? '1.5GB'} }
sources:
  - name: bench
    format: csv
    path: ${JSON.stringify(path.resolve(csv))}
    target: events
    lookback_days: 400
    fields:
      event_id: event_id
      user: { column: user_id, kind: lms_id }
      event_type: event_type
      object: { id_column: object_id, namespace: c }
      timestamp: { column: timestamp_utc, format: local, timezone: UTC }
      duration_seconds: duration_seconds
`;
const open = (file: string) => DuckDBEngine.open(file, { threads, memoryLimit: process.env.BENCH_MEMORY_LIMIT ?? '1.5GB' });

async function features(file: string, out: string) {
  return timedFeatures(await open(file), out);
}

async function timedFeatures(engine: Engine, out: string) {
  const t0 = performance.now();
  const tiles = await updateTiles(engine, { sessionGapMinutes: 30, eventTypes: tileEventTypes(SPECS) });
  await buildSpine(engine, SPINE, '2025-01-01');
  const f = await computeFeatures(engine, SPECS);
  await copyToParquet(engine, `SELECT * FROM features ORDER BY user_id, cutoff`, out);
  const seconds = (performance.now() - t0) / 1000;
  await engine.close();
  return { mode, rows: f.rows, tiles: tiles.mode, events_read: tiles.events_read, seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}

if (mode === 'prepare') {
  const [csv, dir] = [a, b];
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'pipeline.yaml'), config(csv));
  const loaded = loadConfig(path.join(dir, 'pipeline.yaml'));
  let engine = await open(path.join(dir, 'wh.duckdb'));
  await ensureWarehouse(engine);
  await ingest(engine, loaded, pz, { asOf: '2025-01-01' });
  await engine.run('CHECKPOINT');
  await engine.close();
  copyFileSync(path.join(dir, 'wh.duckdb'), path.join(dir, 'base.duckdb'));
  // The next day's events (as a daily incremental run would see them): 1/300 of the log, on day 301.
  const extra = path.join(dir, 'day301.csv');
  engine = await open(path.join(dir, 'wh.duckdb'));
  const n = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM events`))?.n);
  await engine.run(`COPY (SELECT 'x' || i AS event_id, 'u' || (hash(i * 7) % 30000) AS user_id, (['view','submit','pass','fail','quiz_start','forum_post'])[1 + (hash(i) % 6)::BIGINT] AS event_type,
      'c' || (hash(i * 13) % 400) AS object_id, TIMESTAMP '2024-10-27' + to_seconds((hash(i * 31) % 86400)::BIGINT) AS timestamp_utc, (hash(i * 17) % 1800)::INT AS duration_seconds
    FROM range(${Math.round(n / 300)}) t(i)) TO '${extra}' (HEADER)`);
  // The state a daily run starts from: tiles and features of the previous run.
  await updateTiles(engine, { sessionGapMinutes: 30, eventTypes: tileEventTypes(SPECS) });
  await buildSpine(engine, SPINE, '2025-01-01');
  await computeFeatures(engine, SPECS);
  await engine.close();
  // Load the extra day as a new file of the same source (its watermark carries over).
  writeFileSync(path.join(dir, 'extra.yaml'), config(extra));
  engine = await open(path.join(dir, 'wh.duckdb'));
  await ingest(engine, loadConfig(path.join(dir, 'extra.yaml')), pz, { asOf: '2025-01-02' });
  await engine.run('CHECKPOINT');
  await engine.close();
  copyFileSync(path.join(dir, 'wh.duckdb'), path.join(dir, 'inc.duckdb'));
  rmSync(path.join(dir, 'wh.duckdb'));
  process.stdout.write(JSON.stringify({ mode, events: n, extra: Math.round(n / 300), seconds: 0, peak_rss_mb: 0 }) + '\n');
} else if (mode === 'full' || mode === 'incremental') {
  const dir = a;
  const work = path.join(dir, `run-${process.pid}.duckdb`);
  copyFileSync(path.join(dir, mode === 'full' ? 'base.duckdb' : 'inc.duckdb'), work);
  try {
    const r = await features(work, path.join(dir, `features-${mode}.parquet`));
    process.stdout.write(JSON.stringify(r) + '\n');
  } finally {
    rmSync(work, { force: true });
    rmSync(`${work}.wal`, { force: true });
  }
} else if (mode === 'prepare-chdb') {
  // The canonical tables of the full run's starting point, moved through Parquet (not timed).
  const dir = a;
  const duck = await open(path.join(dir, 'base.duckdb'));
  rmSync(path.join(dir, 'base.chdb'), { recursive: true, force: true });
  const ch = await ClickHouseEngine.open({ mode: 'chdb', path: path.join(dir, 'base.chdb') });
  await ensureWarehouse(ch);
  await copyWarehouse(duck, ch, ['events', 'assessments', 'hr_records', 'users', 'enrollments', 'loads']);
  await ch.run(`OPTIMIZE TABLE events FINAL`);
  await ch.close();
  await duck.close();
  process.stdout.write(JSON.stringify({ mode, seconds: 0, peak_rss_mb: 0 }) + '\n');
} else if (mode === 'full-chdb') {
  const dir = a;
  const work = path.join(dir, `run-${process.pid}.chdb`);
  cpSync(path.join(dir, 'base.chdb'), work, { recursive: true });
  try {
    const engine = await ClickHouseEngine.open({ mode: 'chdb', path: work });
    const r = await timedFeatures(engine, path.join(dir, 'features-chdb.parquet'));
    process.stdout.write(JSON.stringify({ ...r, mode }) + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} else if (mode === 'check') {
  const [dir, ref] = [a, b];
  const mine = process.argv[5] ?? path.join(dir, 'features-full.parquet');
  if (!existsSync(ref)) throw new Error(`no reference output ${ref}`);
  const engine = await DuckDBEngine.open(':memory:');
  const ids = await engine.all<{ u: string }>(`SELECT DISTINCT user_id AS u FROM '${ref}'`);
  await engine.run(`CREATE TABLE idmap (raw VARCHAR, p VARCHAR)`);
  await engine.appendRows('idmap', ids.map((r) => [r.u, pz.of('lms_id', r.u)]));
  const cols = ['total_events', 'total_time', 'active_days_7d', 'active_days_30d', 'events_7d', 'events_30d', 'first_to_last_gap_s', 'recency_s', 'attempts_per_quiz', 'sessions'];
  const r = await engine.one<Record<string, unknown>>(`SELECT count(*) AS rows, ${cols.map((c) => `count(*) FILTER (WHERE r.${c} IS DISTINCT FROM l.${c} AND NOT coalesce(abs(r.${c} - l.${c}) < 1e-6, false)) AS ${c}`).join(', ')},
      count(l.user_id) AS matched
    FROM '${ref}' r JOIN idmap m ON m.raw = r.user_id LEFT JOIN '${mine}' l ON l.user_id = m.p AND l.cutoff = r.cutoff`);
  await engine.close();
  const mismatches = Object.fromEntries(cols.map((c) => [c, Number(r?.[c])]));
  process.stdout.write(JSON.stringify({ mode, rows: Number(r?.rows), matched: Number(r?.matched), mismatches, equal: Object.values(mismatches).every((v) => v === 0) && Number(r?.rows) === Number(r?.matched), seconds: 0, peak_rss_mb: 0 }) + '\n');
} else {
  console.error('usage: tsx bench/features-worker.ts prepare|full|incremental|check …');
  process.exit(2);
}
