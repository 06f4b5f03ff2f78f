/**
 * `learnpipe evaluate` / `learnpipe score` on a training table (`training.parquet`).
 *
 * evaluateTrainingTable reads the table with an in-memory DuckDB, fits the calibrated baseline of
 * ./baseline.ts (train → model, validation → Platt and isotonic calibration, test → metrics) and writes
 *  - `evaluation.json`: metrics (uncalibrated, Platt, isotonic, prevalence baseline), per-cutoff test
 *    metrics, top features, ROC / PR / reliability curves, warnings;
 *  - `model.json`: the fitted model (preprocessing, coefficients, both calibrators).
 * Both files are JSON with recursively sorted keys and no paths or clocks in them, so the same table
 * and config give byte-identical files.
 *
 * Columns. The fixed columns `row_id, user_id, course_id, cutoff, split, label, sample_weight,
 * synthetic` are never features. Feature columns and their types come from `feature_schema.json`
 * (`training.columns` / `features[].type`) when it is there, otherwise from the Parquet schema:
 *  - numeric (bigint, double, integer, decimal, boolean …): median-imputed with an is-missing
 *    indicator, standardised;
 *  - varchar: ONE-HOT encoded over the categories seen in train (the 50 most frequent; unseen and
 *    missing values encode as all zeros);
 *  - anything else (timestamps, dates, lists …): dropped, and listed under `features.dropped`.
 *
 * Weights. Train rows are weighted by the table's `sample_weight` (it carries the pipeline's
 * `training.imbalance` choice: balanced class weights for `class_weight`, 1 otherwise). With
 * `class_weight: 'balanced'` the model computes balanced weights itself and the table's weights are
 * ignored (applying both would weight the classes twice). Validation and test rows are unweighted,
 * so calibration and metrics see the real class balance.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ReportModel, ReportReliabilityBin } from '../quality/report-model.js';
import { type BaselineModel, type Evaluation, type Split, type CalibrationKind, fitBaseline, scoreRows } from './baseline.js';
import { type BinaryMetrics, type ReliabilityBin, binaryMetrics, prevalenceBaseline } from './metrics.js';
import type { FeatureKind } from './preprocess.js';
import type { ClassWeightMode, LossKind } from './logistic.js';
import { type Cell, ModelError } from './types.js';

/** Columns of the training table that are never features. */
export const FIXED_COLUMNS = ['row_id', 'user_id', 'course_id', 'cutoff', 'split', 'label', 'sample_weight', 'synthetic'] as const;

export interface EvaluateConfig {
  loss?: LossKind;
  class_weight?: ClassWeightMode;
  /** L2 penalty on standardised coefficients (1/C in scikit-learn terms). Default 1. */
  l2?: number;
  /** Recorded in the outputs; the fit itself is deterministic. Default 42. */
  seed?: number;
  /** The calibration `score` reports as `probability` and the report charts as "after". Default platt. */
  calibration?: CalibrationKind;
  focal_gamma?: number;
  focal_alpha?: number | null;
  /** Weight train rows by the table's sample_weight (default true; ignored with class_weight balanced). */
  use_sample_weight?: boolean;
  /** Max one-hot categories per varchar feature (default 50). */
  max_categories?: number;
  /** Number of top features reported (default 20). */
  top_features?: number;
}

export interface EvaluateOptions {
  trainingParquet: string;
  /** Default: feature_schema.json next to the training table, when present. */
  featureSchemaJson?: string;
  outDir: string;
  config?: EvaluateConfig;
}

export interface FeatureUse { name: string; type: string; encoding: 'numeric' | 'one-hot' }
export interface FeatureDrop { name: string; type: string; reason: string }

export interface CutoffMetrics {
  cutoff: string;
  n: number;
  positives: number;
  rocAuc: number | null;
  prAuc: number | null;
}

export interface TrainingEvaluation extends Evaluation {
  kind: 'learnpipe.evaluation';
  version: 1;
  input: {
    /** File name only (no folder), so the file does not depend on where the table lives. */
    training: string;
    sha256: string;
    rows: number;
    label: string | null;
    featureSchema: string | null;
  };
  config: Required<Omit<EvaluateConfig, 'focal_alpha'>> & { focal_alpha: number | null };
  features: { used: FeatureUse[]; dropped: FeatureDrop[]; encodingNote: string };
  /** Uncalibrated test metrics per cutoff (rank metrics only). */
  byCutoff: CutoffMetrics[];
  /** Train sample weights actually used: 'table' (sample_weight), 'none' or 'balanced'. */
  weighting: string;
  /**
   * Positive rate of the real (non-synthetic) train rows, unweighted: what `test.prevalenceBaseline`
   * predicts for every test row. (`splits.train.prevalence` is weighted by the weights used.)
   */
  trainObservedPrevalence: number;
}

export interface TestPrediction { rowId: string; label: number; cutoff: string; score: number; platt: number; isotonic: number }

export interface EvaluateResult {
  evaluation: TrainingEvaluation;
  model: SavedModel;
  /** What the run report's "Model" section charts (uncalibrated ROC/PR; reliability before/after). */
  report: ReportModel;
  /** Test-split predictions, in row_id order. */
  testPredictions: TestPrediction[];
  files: { evaluation: string; model: string };
}

/** model.json: the baseline model plus what `score` needs to read a table. */
export interface SavedModel extends BaselineModel {
  /** Type per feature as read from the training table (numeric features are read as DOUBLE). */
  featureKinds: Record<string, FeatureKind>;
  calibration: CalibrationKind;
  label: string | null;
}

const CONFIG_DEFAULTS = {
  loss: 'logistic' as LossKind,
  class_weight: 'none' as ClassWeightMode,
  l2: 1,
  seed: 42,
  calibration: 'platt' as CalibrationKind,
  focal_gamma: 2,
  focal_alpha: null as number | null,
  use_sample_weight: true,
  max_categories: 50,
  top_features: 20,
};

function resolveConfig(c: EvaluateConfig = {}): TrainingEvaluation['config'] {
  const r = { ...CONFIG_DEFAULTS };
  for (const [k, v] of Object.entries(c)) if (v !== undefined) (r as Record<string, unknown>)[k] = v;
  if (r.loss !== 'logistic' && r.loss !== 'focal') throw new ModelError('BAD_OPTION', `loss must be logistic or focal, got ${JSON.stringify(r.loss)}`);
  if (r.class_weight !== 'balanced' && r.class_weight !== 'none') throw new ModelError('BAD_OPTION', `class_weight must be balanced or none, got ${JSON.stringify(r.class_weight)}`);
  if (!['platt', 'isotonic', 'none'].includes(r.calibration)) throw new ModelError('BAD_OPTION', `calibration must be platt, isotonic or none, got ${JSON.stringify(r.calibration)}`);
  if (!(Number.isFinite(r.l2) && r.l2 >= 0)) throw new ModelError('BAD_OPTION', `l2 must be a finite number ≥ 0, got ${String(r.l2)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------------
// Deterministic JSON

function sortKeys(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, (x) => sortKeys(x));
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : null;
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) o[k] = sortKeys(x);
    }
    return o;
  }
  return v;
}

/** JSON with recursively sorted keys, 2-space indent, non-finite numbers as null, trailing newline. */
export function stableJson(v: unknown): string {
  return JSON.stringify(sortKeys(v), null, 2) + '\n';
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------------
// Reading tables

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function withDuck<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await inst.connect();
  try {
    await conn.run(`SET TimeZone = 'UTC'`);
    return await fn(conn);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

function readerFor(file: string): string {
  const f = sqlString(path.resolve(file));
  if (/\.(csv|tsv)$/i.test(file)) return `read_csv(${f}, header = true${/\.tsv$/i.test(file) ? `, delim = '\t'` : ''})`;
  return `read_parquet(${f})`;
}

async function describe(conn: DuckDBConnection, file: string): Promise<Map<string, string>> {
  const r = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${readerFor(file)}`);
  const out = new Map<string, string>();
  for (const row of r.getRowObjectsJS()) out.set(String(row.column_name), String(row.column_type).toUpperCase());
  return out;
}

const NUMERIC_DUCK = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*|BOOLEAN)$/;

function kindOfType(t: string): FeatureKind | null {
  const u = t.toUpperCase();
  if (u === 'VARCHAR' || u === 'TEXT' || u === 'STRING') return 'categorical';
  if (NUMERIC_DUCK.test(u)) return 'numeric';
  return null;
}

interface FeaturePlan { used: FeatureUse[]; dropped: FeatureDrop[]; kinds: Record<string, FeatureKind>; label: string | null; splitRule: string | null }

function planFeatures(columns: Map<string, string>, schemaFile: string | null): FeaturePlan {
  const fixed = new Set<string>(FIXED_COLUMNS);
  let names = [...columns.keys()].filter((c) => !fixed.has(c));
  const declared = new Map<string, string>();
  let label: string | null = null;
  let splitRule: string | null = null;
  if (schemaFile) {
    const s = JSON.parse(readFileSync(schemaFile, 'utf8')) as {
      features?: Array<{ name: string; type: string }>; training?: { label?: string; columns?: string[]; split_rule?: string } | null;
    };
    for (const f of s.features ?? []) declared.set(f.name, f.type);
    label = s.training?.label ?? null;
    splitRule = s.training?.split_rule ?? null;
    if (s.training?.columns?.length) {
      const missing = s.training.columns.filter((c) => !columns.has(c));
      if (missing.length) throw new ModelError('SCHEMA_MISMATCH', `${path.basename(schemaFile)} lists columns the training table lacks: ${missing.join(', ')}`);
      names = s.training.columns.filter((c) => !fixed.has(c));
    }
  }
  const used: FeatureUse[] = [];
  const dropped: FeatureDrop[] = [];
  const kinds: Record<string, FeatureKind> = {};
  for (const name of names) {
    const duckType = columns.get(name)!;
    const type = declared.get(name) ?? duckType.toLowerCase();
    // The schema's type wins (bigint | double → numeric, varchar → one-hot); else the Parquet type.
    const kind = kindOfType(declared.has(name) ? type : duckType) ?? kindOfType(duckType);
    if (kind === null) {
      dropped.push({ name, type, reason: `type ${type} is neither numeric nor text` });
      continue;
    }
    kinds[name] = kind;
    used.push({ name, type, encoding: kind === 'numeric' ? 'numeric' : 'one-hot' });
  }
  if (used.length === 0) throw new ModelError('NO_FEATURES', 'the training table has no usable feature columns');
  return { used, dropped, kinds, label, splitRule };
}

function selectFeature(name: string, kind: FeatureKind): string {
  return kind === 'numeric' ? `TRY_CAST(${q(name)} AS DOUBLE) AS ${q(name)}` : `CAST(${q(name)} AS VARCHAR) AS ${q(name)}`;
}

type Columns = Record<string, Cell[]>;

async function readColumns(conn: DuckDBConnection, sql: string): Promise<Columns> {
  const r = await conn.runAndReadAll(sql);
  const cols = r.getColumnsObjectJS() as Record<string, unknown[]>;
  const out: Columns = {};
  for (const [k, v] of Object.entries(cols)) out[k] = v as Cell[];
  return out;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// Evaluate

function rel(bins: ReliabilityBin[], calibrated: boolean): ReportReliabilityBin[] {
  const out: ReportReliabilityBin[] = [];
  bins.forEach((b, i) => {
    if (b.meanPredicted === null || b.fractionPositive === null || b.count === 0) return;
    out.push({ bin: i, predicted: b.meanPredicted, observed: b.fractionPositive, count: b.count, calibrated });
  });
  return out;
}

/** The run report's model section: uncalibrated ROC / PR, reliability before and after `calibration`. */
export function toReportModel(ev: Evaluation, calibration: CalibrationKind = 'platt'): ReportModel {
  const roc = ev.curves.roc.uncalibrated;
  const pr = ev.curves.pr.uncalibrated;
  const after = calibration === 'none' ? null : calibration;
  const reliability = [...rel(ev.curves.reliability.uncalibrated, false), ...(after ? rel(ev.curves.reliability[after], true) : [])];
  const metrics: Record<string, number> = {};
  const put = (prefix: string, m: BinaryMetrics) => {
    const s = prefix ? `_${prefix}` : '';
    if (m.rocAuc !== null) metrics[`roc_auc${s}`] = m.rocAuc;
    if (m.prAuc !== null) metrics[`pr_auc${s}`] = m.prAuc;
    metrics[`log_loss${s}`] = m.logLoss;
    metrics[`brier${s}`] = m.brier;
    metrics[`ece${s}`] = m.ece;
  };
  put('', ev.test.uncalibrated);
  put('platt', ev.test.platt);
  put('isotonic', ev.test.isotonic);
  put('prevalence_baseline', ev.test.prevalenceBaseline);
  metrics.test_prevalence = ev.test.uncalibrated.prevalence;
  metrics.test_rows = ev.test.uncalibrated.n;
  return {
    roc: roc.fpr.map((x, i) => [x, roc.tpr[i]] as [number, number]),
    pr: pr.recall.map((x, i) => [x, pr.precision[i]] as [number, number]),
    reliability,
    metrics,
  };
}

function defaultSchemaFile(trainingParquet: string): string | null {
  const f = path.join(path.dirname(path.resolve(trainingParquet)), 'feature_schema.json');
  return existsSync(f) ? f : null;
}

export async function evaluateTrainingTable(opts: EvaluateOptions): Promise<EvaluateResult> {
  const config = resolveConfig(opts.config);
  const training = path.resolve(opts.trainingParquet);
  if (!existsSync(training)) throw new ModelError('NO_INPUT', `training table not found: ${training}`);
  const schemaFile = opts.featureSchemaJson ? path.resolve(opts.featureSchemaJson) : defaultSchemaFile(training);
  if (schemaFile && !existsSync(schemaFile)) throw new ModelError('NO_INPUT', `feature schema not found: ${schemaFile}`);

  const { plan, cols } = await withDuck(async (conn) => {
    const columns = await describe(conn, training);
    for (const c of ['row_id', 'split', 'label']) {
      if (!columns.has(c)) throw new ModelError('NOT_A_TRAINING_TABLE', `${path.basename(training)} has no column ${c}; is it a learnpipe training table?`);
    }
    const plan = planFeatures(columns, schemaFile);
    const sel = [
      `CAST(row_id AS VARCHAR) AS row_id`,
      `CAST(split AS VARCHAR) AS split`,
      `CAST(label AS DOUBLE) AS label`,
      columns.has('sample_weight') ? `CAST(sample_weight AS DOUBLE) AS sample_weight` : `1.0 AS sample_weight`,
      columns.has('cutoff') ? `CAST(cutoff AS VARCHAR) AS cutoff` : `CAST(NULL AS VARCHAR) AS cutoff`,
      columns.has('synthetic') ? `coalesce(CAST(synthetic AS BOOLEAN), false) AS synthetic` : `false AS synthetic`,
      ...plan.used.map((f) => selectFeature(f.name, plan.kinds[f.name])),
    ];
    const cols = await readColumns(conn, `SELECT ${sel.join(', ')} FROM ${readerFor(training)} ORDER BY row_id`);
    return { plan, cols };
  });

  const n = cols.row_id.length;
  const featureNames = plan.used.map((f) => f.name);
  const idx: Record<'train' | 'validation' | 'test', number[]> = { train: [], validation: [], test: [] };
  const otherSplits = new Set<string>();
  for (let i = 0; i < n; i++) {
    const s = cols.split[i] as string;
    if (s === 'train' || s === 'validation' || s === 'test') idx[s].push(i);
    else otherSplits.add(String(s));
    const y = cols.label[i];
    if (y !== 0 && y !== 1) throw new ModelError('BAD_LABEL', `row ${String(cols.row_id[i])} has label ${String(y)}; labels must be 0 or 1`);
  }
  for (const name of ['train', 'validation', 'test'] as const) {
    if (idx[name].length === 0) {
      throw new ModelError(
        'EMPTY_SPLIT',
        `the training table has no ${name} rows${plan.splitRule ? ` (split rule: ${plan.splitRule})` : ''}; evaluate needs train rows to fit, ` +
        'validation rows to calibrate and test rows to measure. Use more cutoffs (spine) or set training.split.validation_from / test_from',
      );
    }
  }
  let weighting: string;
  if (config.class_weight === 'balanced') weighting = 'balanced';
  else weighting = config.use_sample_weight ? 'table' : 'none';
  const warnings: string[] = [];
  if (otherSplits.size) warnings.push(`rows with split ${[...otherSplits].sort().join(', ')} were ignored`);
  const tableWeighted = idx.train.some((i) => cols.sample_weight[i] !== 1);
  if (config.class_weight === 'balanced' && tableWeighted && config.use_sample_weight) {
    warnings.push('class_weight is balanced, so the table\'s sample_weight column (already class weights) was not applied on top');
  }
  const split = (name: 'train' | 'validation' | 'test'): Split => {
    const ii = idx[name];
    const columns = featureNames.map((f) => ii.map((i) => cols[f][i]));
    const y = Float64Array.from(ii, (i) => cols.label[i] as number);
    const s: Split = { X: { columns }, y };
    if (name === 'train' && weighting === 'table') s.weight = Float64Array.from(ii, (i) => (cols.sample_weight[i] as number | null) ?? 1);
    return s;
  };
  const { model, evaluation } = fitBaseline({
    train: split('train'), validation: split('validation'), test: split('test'), featureNames,
    options: {
      l2: config.l2, classWeight: config.class_weight, loss: config.loss,
      focalGamma: config.focal_gamma, focalAlpha: config.focal_alpha, seed: config.seed,
      featureTypes: plan.kinds, maxCategories: config.max_categories, topFeatures: config.top_features,
    },
  });

  // The library's prevalence baseline uses the *weighted* train prevalence (0.5 under balanced class
  // weights). The baseline worth beating predicts the observed train rate: real (non-synthetic) rows,
  // unweighted.
  let realRows = 0, realPos = 0;
  for (const i of idx.train) if (cols.synthetic[i] !== true) { realRows++; realPos += cols.label[i] as number; }
  const trainObservedPrevalence = realRows > 0 ? realPos / realRows : evaluation.splits.train.prevalence;
  evaluation.test.prevalenceBaseline = prevalenceBaseline(trainObservedPrevalence, split('test').y);

  const saved: SavedModel = { ...model, featureKinds: plan.kinds, calibration: config.calibration, label: plan.label };
  // Test predictions (the same code path `score` uses) and per-cutoff metrics.
  const testX = { columns: featureNames.map((f) => idx.test.map((i) => cols[f][i])) };
  const pU = scoreRows(model, testX, 'none');
  const pP = scoreRows(model, testX, 'platt');
  const pI = scoreRows(model, testX, 'isotonic');
  const testPredictions: TestPrediction[] = idx.test.map((i, k) => ({
    rowId: cols.row_id[i] as string, label: cols.label[i] as number, cutoff: (cols.cutoff[i] as string | null) ?? '',
    score: pU[k], platt: pP[k], isotonic: pI[k],
  }));
  const byCut = new Map<string, number[]>();
  testPredictions.forEach((p, k) => {
    const a = byCut.get(p.cutoff);
    if (a) a.push(k); else byCut.set(p.cutoff, [k]);
  });
  const byCutoff: CutoffMetrics[] = [...byCut.keys()].sort().map((c) => {
    const ks = byCut.get(c)!;
    const y = ks.map((k) => testPredictions[k].label);
    const m = binaryMetrics(y, ks.map((k) => testPredictions[k].score));
    return { cutoff: c, n: m.n, positives: m.positives, rocAuc: m.rocAuc, prAuc: m.prAuc };
  });

  const full: TrainingEvaluation = {
    kind: 'learnpipe.evaluation', version: 1,
    input: { training: path.basename(training), sha256: sha256File(training), rows: n, label: plan.label, featureSchema: schemaFile ? path.basename(schemaFile) : null },
    config,
    features: {
      used: plan.used, dropped: plan.dropped,
      encodingNote: 'numeric: train-median imputation + is-missing indicator, standardised; varchar: one-hot over train categories (most frequent max_categories; unseen/missing = all zeros); other types dropped',
    },
    weighting,
    trainObservedPrevalence,
    ...evaluation,
    warnings: [...evaluation.warnings, ...warnings],
    byCutoff,
  };
  mkdirSync(opts.outDir, { recursive: true });
  const files = { evaluation: path.join(path.resolve(opts.outDir), 'evaluation.json'), model: path.join(path.resolve(opts.outDir), 'model.json') };
  writeAtomic(files.evaluation, stableJson(full));
  writeAtomic(files.model, stableJson(saved));
  return { evaluation: full, model: saved, report: toReportModel(full, config.calibration), testPredictions, files };
}

// ---------------------------------------------------------------------------------------------------
// Score

export interface ScoreOptions {
  /** model.json written by evaluateTrainingTable. */
  modelJson: string;
  /** A training-table file (Parquet, or CSV/TSV) with row_id and the model's feature columns. */
  trainingParquet: string;
  /** Output file: .csv writes CSV, anything else Parquet. */
  out: string;
}

export interface ScoreResult {
  rows: number;
  out: string;
  format: 'csv' | 'parquet';
  /** Column written as `probability` (the model's chosen calibration). */
  calibration: CalibrationKind;
}

export function loadSavedModel(file: string): SavedModel {
  let m: SavedModel;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as SavedModel;
  } catch (e) {
    throw new ModelError('BAD_MODEL', `cannot read model ${file}: ${(e as Error).message}`);
  }
  if (m?.kind !== 'learnpipe.baseline-model' || m.version !== 1) throw new ModelError('BAD_MODEL', `${file} is not a learnpipe model.json (version 1)`);
  if (!m.featureKinds) {
    m.featureKinds = Object.fromEntries(m.preprocessor.features.map((f) => [f.name, f.kind]));
  }
  return m;
}

/**
 * Scores every row of a training-table file with a saved model. Output columns: row_id, score
 * (uncalibrated), score_platt, score_isotonic and probability (= the model's chosen calibration), in
 * row_id order.
 */
export async function scoreFile(opts: { modelJson: string; trainingParquet: string; out: string }): Promise<ScoreResult> {
  const model = loadSavedModel(path.resolve(opts.modelJson));
  const input = path.resolve(opts.trainingParquet);
  if (!existsSync(input)) throw new ModelError('NO_INPUT', `input not found: ${input}`);
  const out = path.resolve(opts.out);
  const format: 'csv' | 'parquet' = /\.csv$/i.test(out) ? 'csv' : 'parquet';
  return withDuck(async (conn) => {
    const columns = await describe(conn, input);
    if (!columns.has('row_id')) throw new ModelError('NOT_A_TRAINING_TABLE', `${path.basename(input)} has no row_id column`);
    const missing = model.featureNames.filter((f) => !columns.has(f));
    if (missing.length) throw new ModelError('MISSING_COLUMN', `${path.basename(input)} lacks the model's feature columns: ${missing.join(', ')}`);
    const sel = [`CAST(row_id AS VARCHAR) AS row_id`, ...model.featureNames.map((f) => selectFeature(f, model.featureKinds[f] ?? 'numeric'))];
    const cols = await readColumns(conn, `SELECT ${sel.join(', ')} FROM ${readerFor(input)} ORDER BY row_id`);
    const X = { columns: model.featureNames.map((f) => cols[f]) };
    const pU = scoreRows(model, X, 'none');
    const pP = scoreRows(model, X, 'platt');
    const pI = scoreRows(model, X, 'isotonic');
    const chosen = model.calibration === 'platt' ? pP : model.calibration === 'isotonic' ? pI : pU;
    await conn.run(`CREATE TABLE scores (row_id VARCHAR, score DOUBLE, score_platt DOUBLE, score_isotonic DOUBLE, probability DOUBLE)`);
    const app = await conn.createAppender('scores');
    try {
      for (let i = 0; i < pU.length; i++) {
        app.appendVarchar(cols.row_id[i] as string);
        app.appendDouble(pU[i]); app.appendDouble(pP[i]); app.appendDouble(pI[i]); app.appendDouble(chosen[i]);
        app.endRow();
      }
      app.flushSync();
    } finally {
      app.closeSync();
    }
    mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    if (existsSync(tmp)) rmSync(tmp);
    await conn.run(`COPY (SELECT * FROM scores ORDER BY row_id) TO ${sqlString(tmp)} (FORMAT ${format === 'csv' ? 'csv, HEADER true' : 'parquet'})`);
    renameSync(tmp, out);
    return { rows: pU.length, out, format, calibration: model.calibration };
  });
}
