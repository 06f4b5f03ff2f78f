// The features benchmark: learnpipe's point-in-time features (the ref_duckdb.sql set, every learner at
// four cutoffs) next to ../shared/bench/ref_duckdb.mjs and ref_pandas.py on the same event log, in the
// same run; values are checked against the reference's; and a daily incremental run (one more day of
// events) against the full run.
import { existsSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Measure } from './run.js';

const ROOT = path.resolve(import.meta.dirname, '..');
// ../shared/bench next to the checkout (or next to its parent, for a git worktree under a sibling folder).
const SHARED = [path.resolve(ROOT, '../shared/bench'), path.resolve(ROOT, '../../shared/bench')].find((d) => existsSync(d)) ?? path.resolve(ROOT, '../shared/bench');
const fmt = (n: number, d = 2) => n.toFixed(d);

export async function runFeatureBench(
  csv: string,
  h: { repeat: number; measure: (cmd: string, args: string[], env?: Record<string, string>) => Measure; summarize: (label: string, runs: Measure[]) => { label: string; seconds: number; peak_rss_mb: number } },
) {
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  const dir = path.join(path.dirname(csv), `features-${path.basename(csv, '.csv')}`);
  if (!existsSync(path.join(dir, 'inc.duckdb')) || statSync(path.join(dir, 'inc.duckdb')).mtimeMs < statSync(csv).mtimeMs) {
    console.log(`\npreparing warehouses for the features benchmark in ${dir} (loads the log once; not timed) …`);
    h.measure(tsx, ['bench/features-worker.ts', 'prepare', csv, dir]);
  }
  const refParquet = path.join(dir, 'ref_feats.parquet');
  const lp: Measure[] = [];
  const inc: Measure[] = [];
  const ref: Measure[] = [];
  for (let i = 0; i < h.repeat; i++) {
    ref.push(h.measure('python3', ['bench/measure.py', process.execPath, path.join(SHARED, 'ref_duckdb.mjs'), csv], { THREADS: process.env.THREADS ?? '2' }));
    if (existsSync(path.join(ROOT, 'ref_feats.parquet'))) renameSync(path.join(ROOT, 'ref_feats.parquet'), refParquet);
    lp.push(h.measure(tsx, ['bench/features-worker.ts', 'full', dir]));
    inc.push(h.measure(tsx, ['bench/features-worker.ts', 'incremental', dir]));
  }
  const check = h.measure(tsx, ['bench/features-worker.ts', 'check', dir, refParquet]);
  const pandasRepeat = Number(process.env.BENCH_PANDAS_REPEAT ?? 1);
  const pandas: Measure[] = [];
  let pandasNote = '';
  for (let i = 0; i < pandasRepeat; i++) {
    try {
      pandas.push(h.measure('python3', ['bench/measure.py', '/usr/bin/python3', path.join(SHARED, 'ref_pandas.py'), csv]));
    } catch (err) {
      pandasNote = `pandas reference did not run: ${(err as Error).message.split('\n').slice(-2).join(' ')} (apt-get install python3-pandas)`;
      break;
    }
  }
  // The same full run on ClickHouse (chdb in-process), when chdb is installed (BENCH_CHDB=0 skips it).
  let chdb: { label: string; seconds: number; peak_rss_mb: number } | null = null;
  let chdbCheck: Measure | null = null;
  let chdbNote = '';
  if (process.env.BENCH_CHDB !== '0') {
    try {
      if (!existsSync(path.join(dir, 'base.chdb')) || statSync(path.join(dir, 'base.chdb')).mtimeMs < statSync(path.join(dir, 'base.duckdb')).mtimeMs) {
        h.measure(tsx, ['bench/features-worker.ts', 'prepare-chdb', dir]);
      }
      const runs: Measure[] = [];
      for (let i = 0; i < h.repeat; i++) runs.push(h.measure(tsx, ['bench/features-worker.ts', 'full-chdb', dir]));
      chdb = h.summarize('learnpipe features on ClickHouse (chdb)', runs);
      chdbCheck = h.measure(tsx, ['bench/features-worker.ts', 'check', dir, refParquet, path.join(dir, 'features-chdb.parquet')]);
    } catch (err) {
      chdbNote = `ClickHouse (chdb) run failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`;
    }
  }
  const a = h.summarize('learnpipe features (tiles from scratch)', lp);
  const n = h.summarize('learnpipe features (+1 day, incremental)', inc);
  const r = h.summarize('hand-written DuckDB (ref_duckdb.mjs)', ref);
  const p = pandas.length ? h.summarize('pandas (ref_pandas.py)', pandas) : null;
  console.log(`\nPoint-in-time features, 4 cutoffs × every learner (median of ${h.repeat}; pandas: ${pandas.length} run):`);
  // What each timing covers (the references start from the CSV; learnpipe from its warehouse, where a
  // real run's ingest has already put the canonical events; ingest is benchmarked on its own above).
  console.log('  learnpipe full: from the canonical events already in the warehouse, every tile rebuilt and written (day tiles, sessions,');
  console.log('    quiz first starts), spine, features, Parquet export of the features; not the CSV ingest.');
  console.log('  learnpipe incremental: the same after one more day of events was loaded (tiles updated, changed features recomputed).');
  console.log('  references: from the CSV file (parse, dedupe, features, Parquet for DuckDB).');
  for (const x of [a, n, r, ...(p ? [p] : [])]) console.log(`  ${x.label.padEnd(46)} ${fmt(x.seconds).padStart(7)} s  peak RSS ${fmt(x.peak_rss_mb, 0)} MB`);
  console.log(`  values equal to the reference: ${check.equal ? 'yes' : 'NO'} (${check.matched}/${check.rows} rows; mismatches ${JSON.stringify(check.mismatches)})`);
  console.log(`  learnpipe / hand-written DuckDB: ${fmt(a.seconds / r.seconds)}x (target ≤ 0.8x)`);
  if (p) console.log(`  pandas / learnpipe: ${fmt(p.seconds / a.seconds)}x faster (target ≥ 5x)`);
  else console.log(`  ${pandasNote}`);
  console.log(`  incremental / full: ${fmt((100 * n.seconds) / a.seconds, 1)}% (target ≤ 10%); peak RSS ${fmt(Math.max(a.peak_rss_mb, n.peak_rss_mb) / 1024)} GB (target ≤ 2 GB)`);
  if (chdb && chdbCheck) {
    console.log(`  ${chdb.label.padEnd(46)} ${fmt(chdb.seconds).padStart(7)} s  peak RSS ${fmt(chdb.peak_rss_mb, 0)} MB`);
    console.log(`  ClickHouse (chdb) / DuckDB, same full run: ${fmt(chdb.seconds / a.seconds)}x; values equal to the reference: ${chdbCheck.equal ? 'yes' : 'NO'} (${chdbCheck.matched}/${chdbCheck.rows} rows)`);
  } else if (chdbNote) console.log(`  ${chdbNote}`);
  return { learnpipe_full: a, chdb_full: chdb, chdb_check: chdbCheck, chdb_vs_duckdb: chdb ? chdb.seconds / a.seconds : null, learnpipe_incremental: n, ref_duckdb: r, ref_pandas: p, check, ratio_vs_duckdb: a.seconds / r.seconds, pandas_speedup: p ? p.seconds / a.seconds : null, incremental_share: n.seconds / a.seconds };
}
