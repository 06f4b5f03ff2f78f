// `npm run bench`: learnpipe next to the reference workloads of ../shared/bench, measured in the same
// run, each in its own process (so peak RSS is that workload's). Medians of BENCH_REPEAT runs.
//   BENCH_ROWS   rows of the synthetic event log (default 10,000,000)
//   BENCH_REPEAT runs per workload (default 3)
//   BENCH_ONLY   comma list of parts to run: serve,ingest,features,postgres,xapi (default: all)
//   BENCH_PG_ROWS rows of the Moodle log loaded from Postgres (default 1,000,000)
//   BENCH_XAPI   statements of the xAPI benchmark (default 1,000,000; the MOOC export repeated with fresh ids)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
// ../shared/bench next to the checkout (or next to its parent, for a git worktree under a sibling folder).
const SHARED = [path.resolve(ROOT, '../shared/bench'), path.resolve(ROOT, '../../shared/bench')].find((d) => existsSync(d)) ?? path.resolve(ROOT, '../shared/bench');
const DATA = path.join(ROOT, 'bench/.data');
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const ONLY = (process.env.BENCH_ONLY ?? 'serve,ingest,features,postgres,xapi').split(',');
const PG_ROWS = Number(process.env.BENCH_PG_ROWS ?? 1_000_000);
const XAPI = Number(process.env.BENCH_XAPI ?? 1_000_000);

export interface Measure {
  seconds: number;
  peak_rss_mb: number;
  [k: string]: unknown;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs a command that prints one JSON line with at least {seconds, peak_rss_mb}. */
export function measure(cmd: string, args: string[], env: Record<string, string> = {}): Measure {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd} ${args.join(' ')} printed no JSON result:\n${r.stdout.slice(-2000)}`);
  return JSON.parse(line);
}

export function summarize(label: string, runs: Measure[]) {
  return { label, runs: runs.length, seconds: median(runs.map((r) => r.seconds)), peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb)) };
}

export function eventsFile(): string {
  mkdirSync(DATA, { recursive: true });
  const file = path.join(DATA, ROWS === 10_000_000 ? 'events_10m.csv' : `events_${ROWS}.csv`);
  if (!existsSync(file)) {
    if (!existsSync(path.join(SHARED, 'make_events.mjs'))) throw new Error(`../shared/bench is absent: the benchmark needs ${SHARED}/make_events.mjs`);
    console.log(`writing ${ROWS.toLocaleString()} synthetic events to ${file} …`);
    const r = spawnSync(process.execPath, [path.join(SHARED, 'make_events.mjs'), file, String(ROWS)], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('make_events.mjs failed');
  }
  return file;
}

const fmt = (n: number, d = 2) => n.toFixed(d);
const results: Record<string, unknown> = { rows: ROWS, repeat: REPEAT, threads: process.env.THREADS ?? '2' };

async function benchIngest(csv: string) {
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  const lp: Measure[] = [];
  const ref: Measure[] = [];
  for (let i = 0; i < REPEAT; i++) {
    // Alternate the two so machine noise hits both alike.
    ref.push(measure(tsx, ['bench/ingest-worker.ts', 'read_csv', csv, path.join(DATA, 'w-ref')]));
    lp.push(measure(tsx, ['bench/ingest-worker.ts', 'learnpipe', csv, path.join(DATA, 'w-lp')]));
  }
  const a = summarize('learnpipe ingest (CSV → canonical events)', lp);
  const b = summarize("DuckDB's read_csv into a table", ref);
  console.log('\nIngestion of the event log (median of %d):', REPEAT);
  console.log(`  ${a.label.padEnd(46)} ${fmt(a.seconds).padStart(7)} s  ${fmt(ROWS / a.seconds / 1e6)} M rows/s  peak RSS ${fmt(a.peak_rss_mb, 0)} MB`);
  console.log(`  ${b.label.padEnd(46)} ${fmt(b.seconds).padStart(7)} s  ${fmt(ROWS / b.seconds / 1e6)} M rows/s  peak RSS ${fmt(b.peak_rss_mb, 0)} MB`);
  console.log(`  ratio learnpipe / read_csv: ${fmt(a.seconds / b.seconds)}x (target ≤ 1.5x); peak RSS ${fmt(a.peak_rss_mb / 1024)} GB (target < 2 GB)`);
  results.ingest = { learnpipe: a, read_csv: b, ratio: a.seconds / b.seconds };
}

async function benchPostgres() {
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  const runs: Measure[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(measure(tsx, ['bench/postgres-worker.ts', String(PG_ROWS), path.join(DATA, 'w-pg')]));
  const s = summarize('learnpipe Postgres source (Moodle log → events)', runs);
  const rate = PG_ROWS / s.seconds;
  console.log('\nLoading from Postgres (embedded server, COPY batches; median of %d):', REPEAT);
  console.log(`  ${s.label.padEnd(46)} ${fmt(s.seconds).padStart(7)} s  ${fmt(rate / 1000, 1)} k rows/s  peak RSS ${fmt(s.peak_rss_mb, 0)} MB`);
  console.log(`  targets: ≥ 50 k rows/s (${rate >= 50_000 ? 'met' : 'NOT met'}), peak RSS < 1 GB (${s.peak_rss_mb < 1024 ? 'met' : 'NOT met'})`);
  results.postgres = { ...s, rows: PG_ROWS, rows_per_s: rate };
}

async function benchXapi() {
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  mkdirSync(DATA, { recursive: true });
  const file = path.join(DATA, `xapi_${XAPI}.jsonl`);
  if (!existsSync(file)) {
    console.log(`writing ${XAPI.toLocaleString()} xAPI statements to ${file} …`);
    measure(tsx, ['bench/xapi-worker.ts', 'make', file, String(XAPI)]);
  }
  const runs: Measure[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(measure(tsx, ['bench/xapi-worker.ts', 'load', file, path.join(DATA, 'w-xapi')]));
  const a = summarize('learnpipe xAPI connector (JSONL → events)', runs);
  console.log('\nxAPI statements from files (median of %d):', REPEAT);
  console.log(`  ${a.label.padEnd(46)} ${fmt(a.seconds).padStart(7)} s  ${fmt(XAPI / a.seconds / 1e3, 1)} k statements/s  peak RSS ${fmt(a.peak_rss_mb, 0)} MB`);
  console.log(`  target: ≥ 100 k statements/s, peak RSS < 1 GB`);
  results.xapi = { statements: XAPI, ...a, statements_per_s: XAPI / a.seconds };
}

if (ONLY.includes('serve')) {
  const { runServeBench, printServeBench } = await import(pathToFileURL(path.join(ROOT, 'bench/serve-run.ts')).href);
  const b = await runServeBench(path.join(DATA, 'w-serve'));
  printServeBench(b);
  results.serve = b;
}
const csv = ONLY.includes('ingest') || ONLY.includes('features') ? eventsFile() : '';
if (ONLY.includes('ingest')) await benchIngest(csv);
if (ONLY.includes('postgres')) await benchPostgres();
if (ONLY.includes('xapi')) await benchXapi();
if (ONLY.includes('features')) {
  const mod = path.join(ROOT, 'bench/features-run.ts');
  if (existsSync(mod)) {
    const { runFeatureBench } = await import(pathToFileURL(mod).href);
    results.features = await runFeatureBench(csv, { repeat: REPEAT, measure, summarize });
  }
}
writeFileSync(path.join(DATA, 'results.json'), JSON.stringify(results, null, 2) + '\n');
console.log(`\nresults: ${path.join(DATA, 'results.json')}`);
