// The xAPI benchmark: one measured load of a statements file (JSON lines) through the xAPI connector,
// in its own process so peak RSS is this workload's alone.
// Usage: tsx bench/xapi-worker.ts make <out.jsonl> <statements> | tsx bench/xapi-worker.ts load <statements.jsonl> <workdir>
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ingest } from '../src/normalize/ingest.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';

const [mode, a, b] = process.argv.slice(2);
if (mode === 'make') {
  // The MOOC export repeated with fresh statement ids (deterministic: a counter) until `b` statements.
  const src = path.resolve(import.meta.dirname, '../../shared/data/xapi/fun-mooc/statements.json.gz');
  const lines = gunzipSync(readFileSync(process.env.LEARNPIPE_SHARED_DATA ? path.join(process.env.LEARNPIPE_SHARED_DATA, 'xapi/fun-mooc/statements.json.gz') : src)).toString('utf8').split('\n').filter((l) => l.trim());
  const total = Number(b);
  const out = createWriteStream(a + '.tmp');
  for (let i = 0; i < total; i++) {
    const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
    const line = lines[i % lines.length].replace(/"id": "[0-9a-f-]{36}", "actor"/, `"id": "${id}", "actor"`);
    if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  (await import('node:fs')).renameSync(a + '.tmp', a);
  process.stdout.write(JSON.stringify({ mode: 'make', seconds: 0, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + '\n');
  process.exit(0);
}
const [file, work] = [a, b];
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const threads = process.env.THREADS ?? '2';
writeFileSync(
  path.join(work, 'pipeline.yaml'),
  `warehouse: wh.duckdb
engine: { threads: ${threads}, memory_limit: ${process.env.BENCH_MEMORY_LIMIT ?? '384MB'} }
connectors:
  - name: bench
    kind: xapi
    path: ${JSON.stringify(path.resolve(file))}
`,
);
const t0 = performance.now();
const loaded = loadConfig(path.join(work, 'pipeline.yaml'));
const engine = await DuckDBEngine.open(path.join(work, 'wh.duckdb'), { threads: Number(threads), memoryLimit: loaded.config.engine.memory_limit });
await ensureWarehouse(engine);
const s = await ingest(engine, loaded, new Pseudonymizer(Buffer.alloc(32, 7)), { asOf: '2025-01-01' });
await engine.close();
const seconds = (performance.now() - t0) / 1000;
const ev = s.sources.find((x) => x.target === 'events')!;
if (ev.rejected || !ev.reconciled) throw new Error(`unexpected rejects: ${JSON.stringify(ev.rejects_by_reason)}`);
process.stdout.write(JSON.stringify({ mode: 'xapi', rows: ev.statements, accepted: ev.accepted, seconds, statements_per_s: (ev.statements ?? 0) / seconds, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }) + '\n');
rmSync(work, { recursive: true, force: true });
