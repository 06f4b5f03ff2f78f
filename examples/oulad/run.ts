// The OULAD example end to end: prepare → learnpipe run → learnpipe evaluate → per-cutoff AUC, printing
// wall time per stage and the process's peak RSS (DuckDB runs in-process, so it is included).
//
//   npx tsx examples/oulad/run.ts [--data ../shared/data/oulad] [--work /tmp/learnpipe-oulad] [--json]
//
// Everything is written under the work folder (outside the repository): csv/, warehouse.duckdb, out/
// (the published training table), evaluation/ (evaluation.json, model.json, scores.parquet), runs/ and
// keys/ (a pseudonym key, created if LEARNPIPE_PSEUDONYM_KEY is not set).
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../../src/config/load.js';
import { runPipeline } from '../../src/pipeline.js';
import { createKeyFile } from '../../src/privacy/keys.js';
import { evaluateTrainingTable, scoreFile, type TrainingEvaluation } from '../../src/model/evaluate.js';
import { rocAuc } from '../../src/model/metrics.js';
import { DEFAULT_DATA, DEFAULT_WORK, prepareOulad } from './prepare.js';

/** Every window of the label ends by then (2014J + 120 days + 450), so no row is censored. */
export const AS_OF = '2016-06-01';

export interface StageTime { stage: string; seconds: number; peakRssMb: number }

export interface PerOffset { days: number; split: string; rows: number; positives: number; prevalence: number; rocAuc: number | null }

export interface OuladResult {
  work: string;
  stages: StageTime[];
  totalSeconds: number;
  peakRssMb: number;
  trainingRows: number;
  evaluation: TrainingEvaluation;
  /** Uncalibrated ROC AUC per cutoff (days into the presentation), on the test and validation splits. */
  perOffset: PerOffset[];
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in kilobytes
}

export async function runOuladExample(opts: { data?: string; work?: string; log?: (s: string) => void } = {}): Promise<OuladResult> {
  const log = opts.log ?? (() => {});
  const work = path.resolve(opts.work ?? DEFAULT_WORK);
  const stages: StageTime[] = [];
  const t0 = performance.now();
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    const r = await fn();
    const st = { stage: name, seconds: (performance.now() - s) / 1000, peakRssMb: peakRssMb() };
    stages.push(st);
    log(`${name.padEnd(9)} ${st.seconds.toFixed(2).padStart(6)} s   peak RSS so far ${st.peakRssMb.toFixed(0)} MB`);
    return r;
  };

  // A fresh warehouse and outputs each time (files already loaded would otherwise be skipped).
  for (const f of ['warehouse.duckdb', 'warehouse.duckdb.wal', 'out', 'runs', 'evaluation', '.learnpipe']) rmSync(path.join(work, f), { recursive: true, force: true });
  const prepared = await stage('prepare', () => prepareOulad({ data: opts.data ?? DEFAULT_DATA, work }));
  if (!process.env.LEARNPIPE_PSEUDONYM_KEY && !existsSync(path.join(work, 'keys', 'pseudonym.key'))) createKeyFile(path.join(work, 'keys', 'pseudonym.key'));
  const summary = await stage('run', () => runPipeline(loadConfig(prepared.config, { checkFiles: true }), { asOf: AS_OF }));
  const out = summary.output_dir;
  const training = path.join(out, 'training.parquet');
  // Beside out/, not in it: out/ is published with a manifest that lists exactly its files.
  const evalDir = path.join(work, 'evaluation');
  const evaluated = await stage('evaluate', () => evaluateTrainingTable({ trainingParquet: training, outDir: evalDir, config: { loss: 'logistic', class_weight: 'none', l2: 1, seed: 42 } }));
  const scores = path.join(evalDir, 'scores.parquet');
  const perOffset = await stage('score', async () => {
    await scoreFile({ modelJson: evaluated.files.model, trainingParquet: training, out: scores });
    return perOffsetAuc(training, scores, path.join(work, 'csv', 'presentations.csv'));
  });
  const totalSeconds = (performance.now() - t0) / 1000;
  return { work, stages, totalSeconds, peakRssMb: peakRssMb(), trainingRows: evaluated.evaluation.input.rows, evaluation: evaluated.evaluation, perOffset };
}

/** Joins the scored table back to the training table and computes the AUC per (split, days into the presentation). */
async function perOffsetAuc(training: string, scores: string, presentations: string): Promise<PerOffset[]> {
  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await inst.connect();
  try {
    const q = (f: string) => `'${f.replace(/'/g, "''")}'`;
    const r = await conn.runAndReadAll(`
      SELECT t.split, date_diff('day', CAST(p.start_date AS DATE), CAST(t.cutoff AS DATE)) AS days,
        CAST(t.label AS INTEGER) AS label, s.score
      FROM read_parquet(${q(training)}) t
      JOIN read_parquet(${q(scores)}) s ON s.row_id = CAST(t.row_id AS VARCHAR)
      JOIN read_csv(${q(presentations)}, header = true, all_varchar = true) p ON t.course_id = 'oulad:' || p.presentation
      WHERE t.split IN ('validation', 'test')
      ORDER BY t.split, days, t.row_id`);
    const groups = new Map<string, { split: string; days: number; y: number[]; s: number[] }>();
    for (const row of r.getRowObjectsJS()) {
      const key = `${String(row.split)}|${String(row.days)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { split: String(row.split), days: Number(row.days), y: [], s: [] }));
      g.y.push(Number(row.label));
      g.s.push(Number(row.score));
    }
    return [...groups.values()].map((g) => {
      const positives = g.y.reduce((a, b) => a + b, 0);
      return { days: g.days, split: g.split, rows: g.y.length, positives, prevalence: positives / g.y.length, rocAuc: rocAuc(g.y, g.s) };
    }).sort((a, b) => (a.split < b.split ? 1 : a.split > b.split ? -1 : a.days - b.days));
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const json = process.argv.includes('--json');
  runOuladExample({ data: arg('--data'), work: arg('--work'), log: json ? undefined : (s) => console.log(s) })
    .then((r) => {
      if (json) {
        const { evaluation, ...rest } = r;
        console.log(JSON.stringify({ ...rest, test: evaluation.test, splits: evaluation.splits, topFeatures: evaluation.topFeatures.slice(0, 10) }, null, 2));
        return;
      }
      const e = r.evaluation;
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(3));
      console.log(`\ntotal ${r.totalSeconds.toFixed(2)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB, training table ${r.trainingRows} rows`);
      console.log(`splits: train ${e.splits.train.rows} (${e.splits.train.positives} positive), validation ${e.splits.validation.rows} (${e.splits.validation.positives}), test ${e.splits.test.rows} (${e.splits.test.positives})`);
      console.log(`\ntest (2014J), all cutoffs: ROC AUC ${f(e.test.uncalibrated.rocAuc)}, PR AUC ${f(e.test.uncalibrated.prAuc)} (prevalence ${f(e.test.uncalibrated.prevalence)}), ` +
        `Brier ${f(e.test.uncalibrated.brier)} / Platt ${f(e.test.platt.brier)} / isotonic ${f(e.test.isotonic.brier)} / baseline ${f(e.test.prevalenceBaseline.brier)}, ` +
        `ECE ${f(e.test.uncalibrated.ece)} / Platt ${f(e.test.platt.ece)} / isotonic ${f(e.test.isotonic.ece)}`);
      console.log('\nsplit       days  rows  positive  ROC AUC');
      for (const p of r.perOffset) console.log(`${p.split.padEnd(10)}  ${String(p.days).padStart(4)}  ${String(p.rows).padStart(5)}  ${(100 * p.prevalence).toFixed(1).padStart(7)}%  ${f(p.rocAuc)}`);
      console.log('\ntop features:');
      for (const t of e.topFeatures.slice(0, 8)) console.log(`  ${t.coefficient >= 0 ? '+' : '-'}${Math.abs(t.coefficient).toFixed(3)}  ${t.name}`);
    })
    .catch((e) => {
      console.error(`error: ${(e as Error).stack ?? String(e)}`);
      process.exit(1);
    });
}
