// learnpipe evaluate / score on a small generated demo: planted signal found, deterministic files,
// score reproduces the test-split probabilities, and the CLI wrappers behave.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { runDemo } from '../src/cli/demo.js';
import { buildProgram } from '../src/cli/main.js';
import { registerEvaluateCommands } from '../src/cli/evaluate-command.js';
import { loadConfig } from '../src/config/load.js';
import { runPipeline } from '../src/pipeline.js';
import { evaluateTrainingTable, scoreFile, stableJson, type EvaluateResult } from '../src/model/evaluate.js';
import { ModelError } from '../src/model/types.js';
import { verifyManifest } from '../src/quality/manifest.js';
import { TEST_KEY_HEX, tmpDir } from './helpers/tmp.js';

const quiet = { info() {}, warn() {} };

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

/** AUC straight from ranks: (sum of positive midranks − P(P+1)/2) / (P·N). */
function rankAuc(y: number[], s: number[]): number {
  const order = s.map((_, i) => i).sort((a, b) => s[a] - s[b]);
  const rank = new Array<number>(s.length);
  for (let k = 0; k < order.length;) {
    let e = k;
    while (e + 1 < order.length && s[order[e + 1]] === s[order[k]]) e++;
    const mid = (k + e) / 2 + 1;
    for (let t = k; t <= e; t++) rank[order[t]] = mid;
    k = e + 1;
  }
  let P = 0, R = 0;
  y.forEach((v, i) => { if (v === 1) { P++; R += rank[i]; } });
  const N = y.length - P;
  return (R - (P * (P + 1)) / 2) / (P * N);
}

async function cli(args: string[]): Promise<string> {
  const program = buildProgram({ commandSets: false });
  const out: string[] = [];
  registerEvaluateCommands(program, { globals: () => program.opts(), out: (t) => { out.push(t); } });
  program.exitOverride();
  await program.parseAsync(['node', 'learnpipe', ...args]);
  return out.join('');
}

describe('evaluate on the demo', () => {
  const dir = tmpDir('learnpipe-eval-');
  const training = path.join(dir, 'out', 'training.parquet');
  let r1: EvaluateResult;
  let noValidation: unknown;

  before(async () => {
    process.env.LEARNPIPE_PSEUDONYM_KEY = TEST_KEY_HEX;
    await runDemo({ dir, users: 150, days: 70, seed: 42, start: '2024-02-01', log: quiet });
    // 70 demo days leave two uncensored weekly cutoffs for the 30-day label: no validation split.
    noValidation = await evaluateTrainingTable({ trainingParquet: training, outDir: path.join(dir, 'eval0') }).then(() => null, (e: unknown) => e);
    // Denser cutoffs and the 14-day inactivity label, so all three splits have rows.
    const yaml = readFileSync(path.join(dir, 'pipeline.yaml'), 'utf8')
      .replace(/spine:\n {2}every: \{[^}]*\}/, 'spine:\n  every: { days: 2, from: 2024-02-09, to: 2024-03-28 }')
      .replace(/label: cert_fail_30d/, 'label: dropout_14d');
    assert.match(yaml, /days: 2, from: 2024-02-09/);
    writeFileSync(path.join(dir, 'pipeline.yaml'), yaml);
    await runPipeline(loadConfig(path.join(dir, 'pipeline.yaml')), { asOf: '2024-04-11' });
    r1 = await evaluateTrainingTable({ trainingParquet: training, outDir: path.join(dir, 'eval1'), config: { seed: 7 } });
  });

  it('explains a table without a validation split', () => {
    const e = noValidation;
    assert.ok(e instanceof ModelError && e.code === 'EMPTY_SPLIT', String(e));
    assert.match(e.message, /no validation rows \(split rule: .*\).*validation_from/);
  });

  it('finds the planted signal (decliners fade before they drop out): test AUC > 0.6, well above the baseline', () => {
    const ev = r1.evaluation;
    const auc = ev.test.uncalibrated.rocAuc as number;
    assert.ok(auc > 0.6, `test ROC AUC ${auc}`);
    assert.equal(ev.test.prevalenceBaseline.rocAuc, 0.5);
    assert.ok((ev.test.uncalibrated.prAuc as number) > ev.test.prevalenceBaseline.prAuc! + 0.1);
    assert.equal(ev.input.label, 'dropout_14d');
    assert.equal(ev.weighting, 'table');
    for (const s of ['train', 'validation', 'test'] as const) assert.ok(ev.splits[s].positives > 0 && ev.splits[s].negatives > 0);
    // the prevalence baseline predicts the observed (unweighted) train rate, not the class-weighted 0.5
    assert.ok(Math.abs(ev.splits.train.prevalence - 0.5) < 1e-9);
    assert.ok(ev.trainObservedPrevalence > 0 && ev.trainObservedPrevalence < 0.3);
    // calibration repairs the class-weighted probabilities
    assert.ok(ev.test.platt.logLoss < ev.test.uncalibrated.logLoss);
    assert.ok(ev.test.platt.ece < ev.test.uncalibrated.ece);
    // varchar features are one-hot encoded; every feature of the schema is used
    assert.deepEqual(ev.features.dropped, []);
    const role = ev.features.used.find((f) => f.name === 'role_level');
    assert.equal(role?.encoding, 'one-hot');
    assert.ok(r1.model.coefficients.names.some((n) => n.startsWith('role_level=')));
    assert.ok(ev.topFeatures.length > 0 && ev.topFeatures.length <= 20);
    // per-cutoff test metrics add up
    assert.equal(ev.byCutoff.reduce((s, c) => s + c.n, 0), ev.splits.test.rows);
  });

  it('AUC in evaluation.json equals a direct rank computation on the test predictions, exactly', () => {
    const y = r1.testPredictions.map((p) => p.label);
    assert.equal(r1.evaluation.test.uncalibrated.rocAuc, rankAuc(y, r1.testPredictions.map((p) => p.score)));
    assert.equal(r1.evaluation.test.platt.rocAuc, rankAuc(y, r1.testPredictions.map((p) => p.platt)));
    assert.equal(r1.evaluation.test.isotonic.rocAuc, rankAuc(y, r1.testPredictions.map((p) => p.isotonic)));
  });

  it('writes byte-identical evaluation.json and model.json across runs, with sorted keys', async () => {
    const r2 = await evaluateTrainingTable({ trainingParquet: training, outDir: path.join(dir, 'eval2'), config: { seed: 7 } });
    for (const f of ['evaluation.json', 'model.json']) {
      const a = readFileSync(path.join(dir, 'eval1', f));
      const b = readFileSync(path.join(dir, 'eval2', f));
      assert.ok(a.equals(b), `${f} differs between runs`);
      assert.equal(a.toString(), stableJson(JSON.parse(a.toString())), `${f} keys are not sorted`);
    }
    assert.equal(r2.files.evaluation, path.join(dir, 'eval2', 'evaluation.json'));
    const ev = JSON.parse(readFileSync(r2.files.evaluation, 'utf8'));
    assert.equal(ev.input.training, 'training.parquet');
    assert.ok(!JSON.stringify(ev).includes(dir), 'evaluation.json must not contain the folder');
  });

  it('returns chartable curves for the report (ROC, PR, reliability before/after)', () => {
    const m = r1.report;
    assert.deepEqual(m.roc?.[0], [0, 0]);
    assert.deepEqual(m.roc?.at(-1), [1, 1]);
    assert.equal(m.pr?.[0][0], 0);
    assert.equal(m.pr?.at(-1)?.[0], 1);
    assert.ok(m.reliability?.some((b) => b.calibrated === false));
    assert.ok(m.reliability?.some((b) => b.calibrated === true));
    assert.equal(m.metrics?.roc_auc, r1.evaluation.test.uncalibrated.rocAuc);
    assert.equal(m.metrics?.pr_auc, r1.evaluation.test.uncalibrated.prAuc);
    const c = r1.evaluation.curves;
    assert.ok(c.roc.platt.fpr.length > 1 && c.reliability.isotonic.length === 10);
  });

  it('score reproduces the test-split probabilities exactly (Parquet and CSV)', async () => {
    const byId = new Map(r1.testPredictions.map((p) => [p.rowId, p]));
    for (const ext of ['parquet', 'csv']) {
      const out = path.join(dir, `scores.${ext}`);
      const res = await scoreFile({ modelJson: r1.files.model, trainingParquet: training, out });
      assert.equal(res.format, ext);
      const rows = await query(`SELECT * FROM '${out}' ORDER BY row_id`);
      assert.equal(rows.length, r1.evaluation.input.rows);
      assert.deepEqual(Object.keys(rows[0]), ['row_id', 'score', 'score_platt', 'score_isotonic', 'probability']);
      let seen = 0;
      for (const row of rows) {
        const p = byId.get(String(row.row_id));
        if (!p) continue;
        seen++;
        assert.equal(Number(row.score), p.score);
        assert.equal(Number(row.score_platt), p.platt);
        assert.equal(Number(row.score_isotonic), p.isotonic);
        assert.equal(Number(row.probability), p.platt);
      }
      assert.equal(seen, r1.testPredictions.length);
    }
  });

  it('CLI: evaluate -c uses output_dir/training.parquet; score writes a file; bad input is a usage error', async () => {
    // default --out: evaluation/ beside output_dir, leaving the published out/ as its manifest lists it
    const out = path.join(dir, 'evaluation');
    const json = JSON.parse(await cli(['--json', 'evaluate', '-c', path.join(dir, 'pipeline.yaml'), '--seed', '7']));
    assert.equal(json.files.evaluation, path.join(out, 'evaluation.json'));
    const verified = await verifyManifest(path.join(dir, 'out', 'manifest.json'));
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.ok(readFileSync(path.join(out, 'evaluation.json')).equals(readFileSync(path.join(dir, 'eval1', 'evaluation.json'))));
    const human = await cli(['evaluate', '--training', training, '--out', path.join(dir, 'eval-cli2'), '--class-weight', 'balanced', '--calibration', 'isotonic']);
    assert.match(human, /prevalence baseline/);
    assert.match(human, /class weights balanced/);
    const scored = await cli(['score', '--model', path.join(dir, 'eval-cli2', 'model.json'), '--input', training, '--out', path.join(dir, 's.csv')]);
    assert.match(scored, /probability = isotonic/);
    await assert.rejects(cli(['evaluate', '--training', path.join(dir, 'missing.parquet')]), /training table not found/);
    await assert.rejects(cli(['evaluate', '--training', training, '--l2', '-1']), /--l2 expects a number ≥ 0/);
    await assert.rejects(cli(['score', '--model', training, '--input', training, '--out', path.join(dir, 'x.csv')]), /cannot read model|not a learnpipe model/);
  });

  it('focal loss runs end to end and still finds the signal', async () => {
    const r = await evaluateTrainingTable({ trainingParquet: training, outDir: path.join(dir, 'eval-focal'), config: { loss: 'focal', class_weight: 'balanced' } });
    assert.equal(r.model.loss, 'focal');
    assert.equal(r.evaluation.weighting, 'balanced');
    assert.ok((r.evaluation.test.uncalibrated.rocAuc as number) > 0.6);
    assert.ok(r.evaluation.warnings.some((w) => /sample_weight/.test(w)));
  });
});
