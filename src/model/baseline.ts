/**
 * Orchestrates a calibrated baseline: preprocess (fit on train) → L2 logistic or
 * focal regression (train) → Platt + isotonic calibration (validation) →
 * metrics, curves and top features (test). Everything is deterministic; the
 * result is plain JSON data.
 */
import { type FeatureMatrix, ModelError } from './types.js';
import { type FeatureKind, type Preprocessor, fitTransformPreprocessor, transformRows } from './preprocess.js';
import { type ClassWeightMode, type ConvergenceInfo, type LossKind, fitLogistic, predictProba, validateLabels } from './logistic.js';
import {
  type IsotonicCalibrator, type PlattCalibrator, applyIsotonic, applyPlatt, fitIsotonic, fitPlatt,
} from './calibration.js';
import {
  type BinaryMetrics, type PrCurve, type ReliabilityBin, type RocCurve,
  binaryMetrics, downsampleCurve, prCurve, prevalenceBaseline, reliabilityBins, rocCurve,
} from './metrics.js';

export interface Split {
  /** Rows (`X[i][j]` = feature j) or `{ columns }` (array in featureNames order, or record by name). */
  X: FeatureMatrix;
  /** 0/1 labels. */
  y: ArrayLike<number>;
  /** Optional non-negative sample weights. */
  weight?: ArrayLike<number>;
}

export interface BaselineOptions {
  /** L2 penalty (1/C in scikit-learn terms) on standardised coefficients. Default 1. */
  l2?: number;
  classWeight?: ClassWeightMode;
  loss?: LossKind;
  focalGamma?: number;
  focalAlpha?: number | null;
  /** Recorded for reproducibility; the fit itself uses no randomness. */
  seed?: number;
  featureTypes?: Readonly<Record<string, FeatureKind>>;
  maxCategories?: number;
  /** Number of top features reported (default 20). */
  topFeatures?: number;
  /** Max points per chart curve (default 201). */
  maxCurvePoints?: number;
}

export interface FitBaselineInput {
  train: Split;
  validation: Split;
  test: Split;
  featureNames: readonly string[];
  options?: BaselineOptions;
}

export interface BaselineModel {
  kind: 'learnpipe.baseline-model';
  version: 1;
  featureNames: string[];
  preprocessor: Preprocessor;
  /** Coefficients on the standardised design columns (`names` = preprocessor outputs). */
  coefficients: { intercept: number; names: string[]; values: number[] };
  loss: LossKind;
  l2: number;
  classWeight: ClassWeightMode;
  focalGamma: number | null;
  focalAlpha: number | null;
  seed: number | null;
  platt: PlattCalibrator;
  isotonic: IsotonicCalibrator;
  /** Weighted train prevalence. */
  trainPrevalence: number;
  convergence: ConvergenceInfo;
}

export interface SplitSummary { rows: number; positives: number; negatives: number; prevalence: number }

export interface TopFeature {
  /** Design column name (e.g. `age`, `age__is_missing`, `dept=sales`). */
  name: string;
  /** Input feature it derives from. */
  source: string;
  /** Coefficient per train standard deviation. */
  coefficient: number;
  sign: 1 | -1 | 0;
}

export type CalibrationKind = 'none' | 'platt' | 'isotonic';

export interface Evaluation {
  splits: { train: SplitSummary; validation: SplitSummary; test: SplitSummary };
  test: {
    uncalibrated: BinaryMetrics;
    platt: BinaryMetrics;
    isotonic: BinaryMetrics;
    /** Predicting the train prevalence for every test row. */
    prevalenceBaseline: BinaryMetrics;
  };
  topFeatures: TopFeature[];
  curves: {
    roc: Record<'uncalibrated' | 'platt' | 'isotonic', RocCurve>;
    pr: Record<'uncalibrated' | 'platt' | 'isotonic', PrCurve>;
    reliability: Record<'uncalibrated' | 'platt' | 'isotonic', ReliabilityBin[]>;
  };
  convergence: ConvergenceInfo;
  warnings: string[];
}

type SplitName = 'train' | 'validation' | 'test';

function withSplit<T>(split: SplitName, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ModelError) throw new ModelError(e.code, `split "${split}": ${e.message}`);
    throw e;
  }
}

function summarize(split: SplitName, s: Split): SplitSummary {
  const y = s.y;
  if (!y || y.length === 0) throw new ModelError('EMPTY_SPLIT', `split "${split}" has no rows`);
  withSplit(split, () => validateLabels(y));
  const w = s.weight;
  if (w !== undefined && w.length !== y.length) {
    throw new ModelError('WEIGHT_LENGTH', `split "${split}" has ${w.length} weights but ${y.length} labels`);
  }
  let pos = 0, wPos = 0, wNeg = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w === undefined ? 1 : w[i];
    if (!(wi >= 0) || !Number.isFinite(wi)) throw new ModelError('BAD_WEIGHT', `split "${split}": weight ${i} is ${String(wi)}`);
    if (y[i] === 1) { pos++; wPos += wi; } else wNeg += wi;
  }
  if (pos === 0 || pos === y.length) {
    throw new ModelError(
      'ONE_CLASS',
      `split "${split}" has only one class (all ${y.length} labels are ${pos === 0 ? 0 : 1}); it needs both positives and negatives`,
    );
  }
  if (!(wPos > 0) || !(wNeg > 0)) {
    throw new ModelError('ONE_CLASS', `split "${split}": all ${wPos > 0 ? 'negative' : 'positive'} rows have zero weight`);
  }
  return { rows: y.length, positives: pos, negatives: y.length - pos, prevalence: wPos / (wPos + wNeg) };
}

export function fitBaseline(input: FitBaselineInput): { model: BaselineModel; evaluation: Evaluation } {
  const { train, validation, test, featureNames } = input;
  const o = input.options ?? {};
  const splits = {
    train: summarize('train', train),
    validation: summarize('validation', validation),
    test: summarize('test', test),
  };
  const { preprocessor, matrix: Xtr } = withSplit('train', () =>
    fitTransformPreprocessor(train.X, featureNames, { featureTypes: o.featureTypes, maxCategories: o.maxCategories }));
  const Xva = withSplit('validation', () => transformRows(preprocessor, validation.X));
  const Xte = withSplit('test', () => transformRows(preprocessor, test.X));
  for (const [name, m, s] of [['train', Xtr, train], ['validation', Xva, validation], ['test', Xte, test]] as const) {
    if (m.nRows !== s.y.length) {
      throw new ModelError('LABEL_LENGTH', `split "${name}" has ${m.nRows} rows of features but ${s.y.length} labels`);
    }
  }
  const classWeight = o.classWeight ?? 'none';
  const loss = o.loss ?? 'logistic';
  const lr = withSplit('train', () => fitLogistic(Xtr, train.y, {
    l2: o.l2 ?? 1, sampleWeight: train.weight, classWeight, loss,
    focalGamma: o.focalGamma, focalAlpha: o.focalAlpha,
  }));
  const pVal = predictProba(lr, Xva);
  const platt = withSplit('validation', () => fitPlatt(pVal, validation.y, validation.weight));
  const isotonic = withSplit('validation', () => fitIsotonic(pVal, validation.y, validation.weight));

  const pTest = predictProba(lr, Xte);
  const pPlatt = applyPlatt(platt, pTest);
  const pIso = applyIsotonic(isotonic, pTest);
  const wt = test.weight;
  const maxPts = o.maxCurvePoints ?? 201;
  const probs = { uncalibrated: pTest, platt: pPlatt, isotonic: pIso };
  const curves: Evaluation['curves'] = { roc: {} as never, pr: {} as never, reliability: {} as never };
  for (const k of ['uncalibrated', 'platt', 'isotonic'] as const) {
    curves.roc[k] = downsampleCurve(rocCurve(test.y, probs[k], wt), maxPts);
    curves.pr[k] = downsampleCurve(prCurve(test.y, probs[k], wt), maxPts);
    curves.reliability[k] = reliabilityBins(test.y, probs[k], wt);
  }

  const topK = o.topFeatures ?? 20;
  const topFeatures: TopFeature[] = lr.coefficients
    .map((c, j) => ({
      name: preprocessor.outputNames[j], source: preprocessor.outputSources[j],
      coefficient: c, sign: (c > 0 ? 1 : c < 0 ? -1 : 0) as 1 | -1 | 0,
    }))
    .sort((a, b) => Math.abs(b.coefficient) - Math.abs(a.coefficient) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, topK);

  const warnings = [...lr.convergence.warnings];
  if (Math.min(splits.validation.positives, splits.validation.negatives) < 30) {
    warnings.push('validation split has fewer than 30 rows of one class; calibration (especially isotonic) may be unreliable');
  }
  for (const f of preprocessor.features) {
    if (f.kind === 'categorical' && f.droppedCategoryCount > 0) {
      warnings.push(
        `feature "${f.name}" has ${f.categories.length + f.droppedCategoryCount} categories in train; only the ` +
        `${f.categories.length} most frequent are one-hot encoded (others encode as all zeros)`,
      );
    }
  }
  if (platt.a <= 0) warnings.push('Platt slope is not positive: validation scores do not rank positives above negatives');

  const model: BaselineModel = {
    kind: 'learnpipe.baseline-model', version: 1,
    featureNames: [...featureNames], preprocessor,
    coefficients: { intercept: lr.intercept, names: [...preprocessor.outputNames], values: lr.coefficients },
    loss, l2: lr.l2, classWeight, focalGamma: lr.focalGamma, focalAlpha: lr.focalAlpha,
    seed: o.seed ?? null, platt, isotonic, trainPrevalence: splits.train.prevalence,
    convergence: lr.convergence,
  };
  const evaluation: Evaluation = {
    splits,
    test: {
      uncalibrated: binaryMetrics(test.y, pTest, wt),
      platt: binaryMetrics(test.y, pPlatt, wt),
      isotonic: binaryMetrics(test.y, pIso, wt),
      prevalenceBaseline: prevalenceBaseline(splits.train.prevalence, test.y, wt),
    },
    topFeatures, curves, convergence: lr.convergence, warnings,
  };
  return { model, evaluation };
}

/** Probabilities for new rows (same features as at fit time), optionally calibrated. */
export function scoreRows(model: BaselineModel, X: FeatureMatrix, calibration: CalibrationKind = 'none'): Float64Array {
  if (model?.kind !== 'learnpipe.baseline-model' || model.version !== 1) {
    throw new ModelError('BAD_MODEL', 'not a learnpipe baseline model (version 1)');
  }
  const m = transformRows(model.preprocessor, X);
  const p = predictProba({ intercept: model.coefficients.intercept, coefficients: model.coefficients.values }, m);
  if (calibration === 'none') return p;
  if (calibration === 'platt') return applyPlatt(model.platt, p);
  if (calibration === 'isotonic') return applyIsotonic(model.isotonic, p);
  throw new ModelError('BAD_OPTION', `unknown calibration "${String(calibration)}"`);
}
