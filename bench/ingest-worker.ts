// One measured ingestion run in its own process, so peak RSS is this workload's alone.
// Usage: tsx bench/ingest-worker.ts <learnpipe|read_csv> <events.csv> <workdir>
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ingest } from '../src/normalize/ingest.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';

const [mode, csv, work] = process.argv.slice(2);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const threads = process.env.THREADS ?? '2';
let rows = 0;
const t0 = performance.now();
if (mode === 'read_csv') {
  // DuckDB's own CSV reader into a table of a file-backed database: the engine's limit for this work.
  const db = await DuckDBInstance.create(path.join(work, 'ref.duckdb'), { threads });
  const c = await db.connect();
  await c.run(`CREATE TABLE events AS SELECT * FROM read_csv('${csv.replaceAll("'", "''")}')`);
  rows = Number((await c.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
  c.closeSync();
  db.closeSync();
} else {
  writeFileSync(
    path.join(work, 'pipeline.yaml'),
    `warehouse: wh.duckdb
engine: { threads: ${threads}, memory_limit: ${process.env.BENCH_MEMORY_LIMIT ?? '1.5GB'} }
sources:
  - name: bench
    format: csv
    path: ${JSON.stringify(path.resolve(csv))}
    target: events
    fields:
      event_id: event_id
      user: { column: user_id, kind: lms_id }
      event_type: event_type
      object: { id_column: object_id, namespace: c }
      timestamp: { column: timestamp_utc, format: local, timezone: UTC }
      duration_seconds: duration_seconds
`,
  );
  const loaded = loadConfig(path.join(work, 'pipeline.yaml'));
  const engine = await DuckDBEngine.open(path.join(work, 'wh.duckdb'), { threads: Number(threads), memoryLimit: loaded.config.engine.memory_limit });
  await ensureWarehouse(engine);
  const s = await ingest(engine, loaded, new Pseudonymizer(Buffer.alloc(32, 7)), { asOf: '2025-01-01' });
  rows = s.totals.accepted;
  await engine.close();
}
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ mode, rows, seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + '\n');
rmSync(work, { recursive: true, force: true });
