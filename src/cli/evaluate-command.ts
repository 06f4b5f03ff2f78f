// CLI commands `learnpipe evaluate` and `learnpipe score`: thin wrappers around src/model/evaluate.ts.
// main.ts calls registerEvaluateCommands(program, { globals }).
import { Command, CommanderError, Option } from 'commander';
import path from 'node:path';
import { loadConfig, resolvePath } from '../config/load.js';
import { ModelError } from '../model/types.js';
import { evaluateTrainingTable, scoreFile, type EvaluateConfig, type TrainingEvaluation } from '../model/evaluate.js';
import type { BinaryMetrics } from '../model/metrics.js';

const USAGE = 2;

function fail(message: string): never {
  throw new CommanderError(USAGE, 'learnpipe.evaluate', message);
}

function nonNegative(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || v.trim() === '') fail(`${name} expects a number ≥ 0, got ${JSON.stringify(v)}`);
    return n;
  };
}

function integer(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) fail(`${name} expects a whole number, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** ModelError (bad data, missing columns, one-class splits) is a usage problem, not a crash. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ModelError) fail(e.message);
    throw e;
  }
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));

function printEvaluation(ev: TrainingEvaluation, files: { evaluation: string; model: string }, write: (t: string) => void): void {
  const lines: string[] = [];
  const log = (s = '') => { lines.push(s); };
  const s = ev.splits;
  log(`Evaluated ${ev.input.training}${ev.input.label ? ` (label ${ev.input.label})` : ''}: ${ev.features.used.length} features` +
    `${ev.features.dropped.length ? ` (${ev.features.dropped.length} dropped)` : ''}, loss ${ev.config.loss}, class weights ${ev.weighting}, l2 ${ev.config.l2}`);
  log(`rows: train ${s.train.rows} (${s.train.positives} positive), validation ${s.validation.rows} (${s.validation.positives}), test ${s.test.rows} (${s.test.positives})`);
  log('');
  const rows: Array<[string, BinaryMetrics]> = [
    ['uncalibrated', ev.test.uncalibrated], ['platt', ev.test.platt], ['isotonic', ev.test.isotonic], ['prevalence baseline', ev.test.prevalenceBaseline],
  ];
  const head = ['test split', 'ROC AUC', 'PR AUC', 'log loss', 'Brier', 'ECE'];
  const body = rows.map(([n, m]) => [n, fmt(m.rocAuc), fmt(m.prAuc), fmt(m.logLoss), fmt(m.brier), fmt(m.ece)]);
  const w = head.map((h, j) => Math.max(h.length, ...body.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('  ');
  log(line(head));
  log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of body) log(line(r));
  log('');
  log('Top features (coefficient per train standard deviation; + raises the predicted risk):');
  for (const f of ev.topFeatures.slice(0, 10)) log(`  ${f.coefficient >= 0 ? '+' : '-'}${Math.abs(f.coefficient).toFixed(3)}  ${f.name}`);
  for (const x of ev.warnings) log(`warning: ${x}`);
  log('');
  log(`wrote ${files.evaluation}`);
  log(`wrote ${files.model}`);
  write(lines.join('\n') + '\n');
}

export interface EvaluateCliContext {
  globals: () => { json?: boolean; quiet?: boolean };
  /** Where output goes (default: process.stdout); tests pass a collector. */
  out?: (text: string) => void;
}

export function registerEvaluateCommands(program: Command, ctx: EvaluateCliContext): void {
  const write = ctx.out ?? ((t: string) => { process.stdout.write(t); });
  program
    .command('evaluate')
    .description(
      'Measure the signal in a training table: fit an L2 logistic regression on the train split, calibrate it on ' +
      'validation (Platt and isotonic), and report ROC AUC, PR AUC, log loss, Brier score and calibration error on ' +
      'test against the prevalence baseline. Writes evaluation.json and model.json.',
    )
    .addOption(new Option('-c, --config <file>', 'pipeline config; the table is <output_dir>/training.parquet').default('pipeline.yaml'))
    .option('-t, --training <file>', 'a training table (Parquet) to evaluate instead of the config\'s')
    .option('--schema <file>', 'its feature_schema.json (default: the one next to the table, if any)')
    .option('-o, --out <dir>', 'where evaluation.json and model.json go (default: evaluation/ beside the table\'s folder, e.g. out/ → evaluation/)')
    .addOption(new Option('--loss <kind>', 'training loss').choices(['logistic', 'focal']).default('logistic'))
    .option('--focal-gamma <g>', 'focal loss γ (with --loss focal)', nonNegative('--focal-gamma'), 2)
    .addOption(new Option('--class-weight <mode>', 'balanced: reweight classes in the model (replaces the table\'s sample_weight); none: use sample_weight as is').choices(['none', 'balanced']).default('none'))
    .option('--no-sample-weight', 'ignore the table\'s sample_weight column')
    .option('--l2 <lambda>', 'L2 penalty on standardised coefficients (1/C in scikit-learn terms)', nonNegative('--l2'), 1)
    .addOption(new Option('--calibration <kind>', 'the calibration `score` writes as probability').choices(['platt', 'isotonic', 'none']).default('platt'))
    .option('--seed <n>', 'seed, recorded in the outputs (the fit itself is deterministic)', integer('--seed'), 42)
    .addHelpText(
      'after',
      `
What it does
  Rows with split = train fit the model (weighted by the table's sample_weight, which carries the
  pipeline's training.imbalance choice); validation rows fit Platt scaling and isotonic regression;
  test rows are scored for the metrics. Numeric features: missing values get the train median plus an
  is-missing indicator, then everything is standardised with train statistics. Text (varchar) features
  are one-hot encoded over the categories seen in train (top 50; unseen values → all zeros). Other
  column types are dropped and listed in evaluation.json.

Outputs (JSON with sorted keys: the same table and options give byte-identical files)
  evaluation.json  metrics per calibration + prevalence baseline, per-cutoff test AUC, top features,
                   ROC / PR / reliability curve points, warnings
  model.json       preprocessing, coefficients and both calibrators; use it with \`learnpipe score\`

Examples
  learnpipe evaluate -c pipeline.yaml
  learnpipe evaluate --training out/training.parquet --out out/eval --class-weight balanced
  learnpipe score --model evaluation/model.json --input new/training.parquet --out scores.parquet`,
    )
    .action(async (o: {
      config: string; training?: string; schema?: string; out?: string; loss: 'logistic' | 'focal'; focalGamma: number;
      classWeight: 'none' | 'balanced'; sampleWeight: boolean; l2: number; calibration: 'platt' | 'isotonic' | 'none'; seed: number;
    }) => {
      let training: string;
      if (o.training) training = path.resolve(o.training);
      else {
        const loaded = loadConfig(o.config);
        training = path.join(resolvePath(loaded, loaded.config.output_dir), 'training.parquet');
      }
      // Default: evaluation/ beside the table's folder (out/ → evaluation/), so the published output
      // folder stays exactly as its manifest lists it (`learnpipe verify` reports extra files).
      const outDir = path.resolve(o.out ?? path.join(path.dirname(path.dirname(training)), 'evaluation'));
      const config: EvaluateConfig = {
        loss: o.loss, class_weight: o.classWeight, l2: o.l2, seed: o.seed, calibration: o.calibration,
        focal_gamma: o.focalGamma, use_sample_weight: o.sampleWeight,
      };
      const r = await guarded(() => evaluateTrainingTable({ trainingParquet: training, featureSchemaJson: o.schema, outDir, config }));
      const g = ctx.globals();
      if (g.json) {
        const ev = r.evaluation;
        write(JSON.stringify({
          files: r.files, input: ev.input, splits: ev.splits, test: ev.test, byCutoff: ev.byCutoff,
          topFeatures: ev.topFeatures, warnings: ev.warnings,
        }, null, 2) + '\n');
      } else if (!g.quiet) printEvaluation(r.evaluation, r.files, write);
    });

  program
    .command('score')
    .description('Score a training-table file with a model.json from `learnpipe evaluate`: writes row_id, score (uncalibrated), score_platt, score_isotonic and probability (the model\'s chosen calibration).')
    .requiredOption('-m, --model <file>', 'model.json written by learnpipe evaluate')
    .requiredOption('-i, --input <file>', 'a training-table file (Parquet, or CSV) with row_id and the model\'s feature columns; split and label are not needed')
    .requiredOption('-o, --out <file>', 'output file: .csv writes CSV, anything else Parquet')
    .addHelpText(
      'after',
      `
The input is read the way evaluate read the training table (numeric features as DOUBLE, text features
as VARCHAR), so scoring the training table itself reproduces evaluate's test-split probabilities
exactly. Rows come out in row_id order.

Example
  learnpipe score --model evaluation/model.json --input out/training.parquet --out evaluation/scores.csv`,
    )
    .action(async (o: { model: string; input: string; out: string }) => {
      const r = await guarded(() => scoreFile({ modelJson: o.model, trainingParquet: o.input, out: o.out }));
      const g = ctx.globals();
      if (g.json) write(JSON.stringify(r, null, 2) + '\n');
      else if (!g.quiet) write(`scored ${r.rows} rows → ${r.out} (${r.format}; probability = ${r.calibration} calibration)\n`);
    });
}
