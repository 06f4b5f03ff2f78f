// The streaming benchmark (loopback only): `learnpipe serve` in its own process, autocannon posting one
// xAPI statement per request (each with a fresh id) for a fixed duration; prints acknowledged
// statements/s, p50/p99 latency and the server's peak RSS, then checks that every acknowledged id is
// stored exactly once (in landing after the graceful stop, and in the warehouse after an ingest).
//   BENCH_SERVE_SECONDS  duration (default 20)   BENCH_SERVE_CONNECTIONS  concurrent connections (default 32)
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { addClient } from '../src/sources/http/index.js';
import { loadConfig } from '../src/config/load.js';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { ingest } from '../src/normalize/ingest.js';
import { Pseudonymizer } from '../src/privacy/pseudonym.js';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface ServeBench {
  seconds: number;
  connections: number;
  requests: number;
  acknowledged: number;
  statements_per_s: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  non_2xx: number;
  peak_rss_mb: number;
  stored_once: number;
  lost: number;
  doubled: number;
  warehouse?: { events: number; missing: number; doubled: number; ingest_seconds: number };
}

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Loads the incoming folder as the next `learnpipe run` would and counts each acknowledged id in events. */
async function verifyWarehouse(work: string, acked: Set<string>): Promise<NonNullable<ServeBench['warehouse']>> {
  const loaded = loadConfig(path.join(work, 'pipeline.yaml'));
  const engine = await DuckDBEngine.open(path.join(work, 'wh.duckdb'));
  try {
    await ensureWarehouse(engine);
    const t0 = performance.now();
    await ingest(engine, loaded, new Pseudonymizer(Buffer.alloc(32, 7)), { asOf: '2030-01-01' });
    const ingestSeconds = (performance.now() - t0) / 1000;
    const rows = await engine.all<{ id: string; n: number }>(`SELECT substr(event_id, length('lrs_stream:') + 1) AS id, count(*) AS n FROM events GROUP BY 1`);
    const counts = new Map(rows.map((r) => [r.id, Number(r.n)]));
    return {
      events: rows.reduce((n, r) => n + Number(r.n), 0),
      missing: [...acked].filter((id) => !counts.has(id)).length,
      doubled: [...counts.values()].filter((n) => n > 1).length,
      ingest_seconds: ingestSeconds,
    };
  } finally {
    await engine.close();
  }
}

export async function runServeBench(work: string, opts: { seconds?: number; connections?: number } = {}): Promise<ServeBench> {
  const seconds = opts.seconds ?? Number(process.env.BENCH_SERVE_SECONDS ?? 20);
  const connections = opts.connections ?? Number(process.env.BENCH_SERVE_CONNECTIONS ?? 32);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(
    path.join(work, 'pipeline.yaml'),
    `warehouse: wh.duckdb
serve:
  credentials: clients
  rate_limit: { per_second: 1000000, burst: 1000000 }
connectors:
  - { name: lrs_stream, kind: xapi, path: incoming/xapi/*.jsonl, after_load: move }
`,
  );
  const secret = addClient(path.join(work, 'clients'), 'bench', 'bearer');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/learnpipe.js'), 'serve', '-c', path.join(work, 'pipeline.yaml'), '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));

  const acked = new Set<string>();
  const statuses = new Map<number, number>();
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/xAPI/statements',
        headers: { authorization: `Bearer ${secret}`, 'x-experience-api-version': '1.0.3', 'content-type': 'application/json' },
        setupRequest: (req) => {
          const i = n++;
          const body = JSON.stringify({
            id: randomUUID(),
            actor: { objectType: 'Agent', mbox: `mailto:learner${i % 5000}@example.org` },
            verb: { id: 'http://adlnet.gov/expapi/verbs/experienced', display: { 'en-US': 'experienced' } },
            object: { objectType: 'Activity', id: `https://lms.example.org/course/${i % 40}/page/${i % 300}` },
            timestamp: new Date(Date.UTC(2024, 2, 1) + i * 1000).toISOString(),
          });
          return { ...req, body };
        },
        onResponse: (status, body) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status !== 200 && statuses.get(status) === 1) console.error(`first ${status}: ${body.slice(0, 300)}`);
          if (status === 200) for (const id of JSON.parse(body) as string[]) acked.add(id);
        },
      },
    ],
  });
  const peak = vmHwmMb(child.pid!);
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`serve did not stop cleanly (exit ${code})`);

  // Every acknowledged id, once, in the landing folder.
  const stored = new Map<string, number>();
  const landing = path.join(work, 'incoming/xapi');
  for (const f of existsSync(landing) ? readdirSync(landing) : []) {
    for (const line of readFileSync(path.join(landing, f), 'utf8').split('\n')) if (line) {
      const id = JSON.parse(line).id as string;
      stored.set(id, (stored.get(id) ?? 0) + 1);
    }
  }
  const lost = [...acked].filter((id) => !stored.has(id)).length;
  const doubled = [...stored.values()].filter((c) => c > 1).length;
  const out: ServeBench = {
    seconds,
    connections,
    requests: result.requests.total,
    acknowledged: acked.size,
    statements_per_s: acked.size / seconds,
    latency_p50_ms: result.latency.p50,
    latency_p99_ms: result.latency.p99,
    non_2xx: result.non2xx,
    peak_rss_mb: peak,
    stored_once: [...acked].filter((id) => stored.get(id) === 1).length,
    lost,
    doubled,
  };
  out.warehouse = await verifyWarehouse(work, acked);
  return out;
}

export function printServeBench(b: ServeBench): void {
  console.log(`\nStreaming endpoint (loopback, ${b.connections} connections, ${b.seconds} s, one statement per request):`);
  console.log(`  acknowledged ${b.acknowledged.toLocaleString()} statements: ${Math.round(b.statements_per_s).toLocaleString()} statements/s (target ≥ 5,000)`);
  console.log(`  latency p50 ${b.latency_p50_ms} ms, p99 ${b.latency_p99_ms} ms (target p99 < 50 ms); non-2xx ${b.non_2xx}; server peak RSS ${b.peak_rss_mb.toFixed(0)} MB`);
  console.log(`  stored exactly once: ${b.stored_once.toLocaleString()} / ${b.acknowledged.toLocaleString()}; lost ${b.lost}, doubled ${b.doubled} (target 0, 0)`);
  if (b.warehouse) console.log(`  in the warehouse after ingest (${b.warehouse.ingest_seconds.toFixed(1)} s): ${b.warehouse.events.toLocaleString()} events; acknowledged but missing ${b.warehouse.missing}, doubled ${b.warehouse.doubled}`);
}
