// One measured load from Postgres in its own process, so peak RSS is learnpipe's alone (the server is
// another process). An embedded Postgres gets a Moodle-like log of N rows (not timed); then the
// events source reads it through a cursor in batches and loads it into a fresh warehouse (timed).
// Usage: tsx bench/postgres-worker.ts <rows> <workdir>
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ingest } from '../src/normalize/ingest.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';
import { startPostgres } from '../test/helpers/pg.js';
import { addLogRows, createMoodle, moodleSources } from '../test/helpers/moodle.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const work = path.resolve(process.argv[3] ?? 'bench/.data/w-pg');
const threads = process.env.THREADS ?? '2';
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const db = await startPostgres();
try {
  await createMoodle(db, { users: 5000, courses: 200 });
  for (let done = 0; done < rows; done += 250_000) await addLogRows(db, Math.min(250_000, rows - done), { users: 5000, courses: 200 });
  await db.sql('VACUUM ANALYZE mdl_logstore_standard_log');
  process.env.MOODLE_DB_URL = db.url;
  writeFileSync(
    path.join(work, 'pipeline.yaml'),
    `warehouse: wh.duckdb\nengine: { threads: ${threads}, memory_limit: ${process.env.BENCH_MEMORY_LIMIT ?? '1GB'} }\n${moodleSources({ logBatch: Number(process.env.BENCH_PG_BATCH ?? 500_000) })}`,
  );
  const loaded = loadConfig(path.join(work, 'pipeline.yaml'));
  const engine = await DuckDBEngine.open(path.join(work, 'wh.duckdb'), { threads: Number(threads), memoryLimit: loaded.config.engine.memory_limit });
  await ensureWarehouse(engine);
  const t0 = performance.now();
  const s = await ingest(engine, loaded, new Pseudonymizer(Buffer.alloc(32, 7)), { asOf: '2025-01-01', sources: ['moodle_log'] });
  const seconds = (performance.now() - t0) / 1000;
  await engine.close();
  const read = s.totals.rows_read;
  process.stdout.write(JSON.stringify({ rows: read, accepted: s.totals.accepted, batches: s.totals.files_loaded, seconds, rows_per_s: read / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + '\n');
} finally {
  await db.stop();
  rmSync(work, { recursive: true, force: true });
}
