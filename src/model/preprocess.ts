/**
 * Preprocessing fitted on the TRAIN split only:
 *  - numeric features: median imputation, plus an `<name>__is_missing` 0/1 column
 *    for every feature that had at least one missing value in train;
 *  - categorical features: one-hot over the categories seen in train (sorted by
 *    UTF-16 code units; capped at `maxCategories` most frequent); unseen or
 *    missing values encode as all zeros;
 *  - every output column is then standardised with the train mean and
 *    population std (std 0 → 1).
 * The fitted `Preprocessor` is plain JSON data; `transformRows` applies it.
 */
import { type Cell, type DesignMatrix, type FeatureMatrix, ModelError, cellGrid } from './types.js';

export type FeatureKind = 'numeric' | 'categorical';

export interface NumericFeatureSpec {
  name: string;
  kind: 'numeric';
  /** Train median of the non-missing values (0 if the feature was entirely missing). */
  median: number;
  /** Whether an `__is_missing` indicator column is emitted (had missing values in train). */
  missingIndicator: boolean;
  trainMissingCount: number;
}

export interface CategoricalFeatureSpec {
  name: string;
  kind: 'categorical';
  /** Categories with a one-hot column, sorted. */
  categories: string[];
  /** Categories seen in train but dropped by `maxCategories` (encoded like unseen ones). */
  droppedCategoryCount: number;
}

export type FeatureSpec = NumericFeatureSpec | CategoricalFeatureSpec;

export interface Preprocessor {
  kind: 'learnpipe.preprocessor';
  version: 1;
  /** Input feature names, in input column order. */
  featureNames: string[];
  features: FeatureSpec[];
  /** Output (design matrix) column names. */
  outputNames: string[];
  /** For each output column, the input feature it came from. */
  outputSources: string[];
  /** Train means / scales of the output columns (after imputation / encoding). */
  means: number[];
  scales: number[];
}

export interface PreprocessOptions {
  /** Force a kind per feature. Default: categorical iff any train value is a string. */
  featureTypes?: Readonly<Record<string, FeatureKind>>;
  /** Keep at most this many (most frequent) categories per categorical feature. Default 50. */
  maxCategories?: number;
  /** Standardise output columns (default true). When false, means = 0 and scales = 1. */
  standardize?: boolean;
}

export const MISSING_SUFFIX = '__is_missing';

function numericValue(v: Cell, feature: string, row: number): number {
  if (v === null || v === undefined) return NaN;
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const s = v.trim();
  if (s === '') return NaN;
  const x = Number(s);
  if (!Number.isFinite(x)) {
    throw new ModelError(
      'NON_NUMERIC_VALUE',
      `feature "${feature}" is numeric but row ${row} has the non-numeric value ${JSON.stringify(v)}`,
    );
  }
  return x;
}

function categoryKey(v: Cell): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
  return v ? 'true' : 'false';
}

function codeUnitCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** k-th smallest (0-based) by in-place quickselect (median-of-3 pivot); reorders `a`. */
function selectKth(a: Float64Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
  }
  return a[k];
}

/** Median (mean of the two middle values for even n); reorders `values`. */
function medianOf(values: Float64Array): number {
  const n = values.length;
  if (n === 0) return 0;
  const h = n >> 1;
  const upper = selectKth(values, h);
  if (n % 2 === 1) return upper;
  let lower = -Infinity; // max of the lower half (indices < h after selection)
  for (let i = 0; i < h; i++) if (values[i] > lower) lower = values[i];
  return (lower + upper) / 2;
}

/** Fit on the train split and return the preprocessor plus the transformed train matrix. */
export function fitTransformPreprocessor(
  x: FeatureMatrix,
  featureNames: readonly string[],
  options: PreprocessOptions = {},
): { preprocessor: Preprocessor; matrix: DesignMatrix } {
  const names = [...featureNames];
  if (new Set(names).size !== names.length) {
    throw new ModelError('DUPLICATE_FEATURE', 'feature names must be unique');
  }
  const grid = cellGrid(x, names);
  const { nRows: n, rows, cols } = grid;
  const q = names.length;
  const maxCategories = options.maxCategories ?? 50;
  // pass 1 (row-major friendly): which features are categorical
  const isCat = new Uint8Array(q);
  const undecided: number[] = [];
  for (let j = 0; j < q; j++) {
    const forced = options.featureTypes?.[names[j]];
    if (forced === 'categorical') isCat[j] = 1;
    else if (forced === undefined) undecided.push(j);
  }
  if (undecided.length > 0) {
    for (let i = 0; i < n; i++) {
      const row = rows ? rows[i] : null;
      for (const j of undecided) {
        if (typeof (row ? row[j] : cols![j][i]) === 'string') isCat[j] = 1;
      }
    }
  }
  // pass 2: non-missing numeric values and category counts
  const bufs: (Float64Array | null)[] = [];
  const counts: (Map<string, number> | null)[] = [];
  for (let j = 0; j < q; j++) {
    bufs.push(isCat[j] ? null : new Float64Array(n));
    counts.push(isCat[j] ? new Map() : null);
  }
  const k = new Int32Array(q);
  for (let i = 0; i < n; i++) {
    const row = rows ? rows[i] : null;
    for (let j = 0; j < q; j++) {
      const v = row ? row[j] : cols![j][i];
      const buf = bufs[j];
      if (buf !== null) {
        const num = typeof v === 'number' ? (v - v === 0 ? v : NaN) : numericValue(v, names[j], i);
        if (num === num) buf[k[j]++] = num;
      } else {
        const key = categoryKey(v);
        if (key !== null) { const c = counts[j]!; c.set(key, (c.get(key) ?? 0) + 1); }
      }
    }
  }
  const features: FeatureSpec[] = [];
  for (let j = 0; j < q; j++) {
    const name = names[j];
    const buf = bufs[j];
    if (buf !== null) {
      const missing = n - k[j];
      features.push({
        name, kind: 'numeric', median: medianOf(buf.subarray(0, k[j])),
        missingIndicator: missing > 0, trainMissingCount: missing,
      });
      bufs[j] = null;
    } else {
      const byFreq = [...counts[j]!.entries()].sort((a, b) => b[1] - a[1] || codeUnitCompare(a[0], b[0]));
      const kept = byFreq.slice(0, Math.max(0, maxCategories)).map((e) => e[0]).sort(codeUnitCompare);
      features.push({ name, kind: 'categorical', categories: kept, droppedCategoryCount: byFreq.length - kept.length });
    }
  }
  const outputNames: string[] = [];
  const outputSources: string[] = [];
  for (const f of features) {
    if (f.kind === 'numeric') {
      outputNames.push(f.name); outputSources.push(f.name);
      if (f.missingIndicator) { outputNames.push(f.name + MISSING_SUFFIX); outputSources.push(f.name); }
    } else {
      for (const c of f.categories) { outputNames.push(`${f.name}=${c}`); outputSources.push(f.name); }
    }
  }
  const p = outputNames.length;
  const pre: Preprocessor = {
    kind: 'learnpipe.preprocessor', version: 1, featureNames: names, features,
    outputNames, outputSources, means: new Array<number>(p).fill(0), scales: new Array<number>(p).fill(1),
  };
  const m = encodeGrid(pre, grid);
  if (options.standardize !== false && n > 0) {
    const d = m.data;
    const mean = new Float64Array(p);
    const ss = new Float64Array(p);
    for (let i = 0; i < n; i++) { const off = i * p; for (let c = 0; c < p; c++) mean[c] += d[off + c]; }
    for (let c = 0; c < p; c++) mean[c] /= n;
    for (let i = 0; i < n; i++) {
      const off = i * p;
      for (let c = 0; c < p; c++) { const t = d[off + c] - mean[c]; ss[c] += t * t; }
    }
    for (let c = 0; c < p; c++) {
      const std = Math.sqrt(ss[c] / n);
      pre.means[c] = mean[c];
      pre.scales[c] = std > 1e-12 * Math.max(1, Math.abs(mean[c])) ? std : 1;
    }
    standardizeInPlace(pre, m);
  }
  return { preprocessor: pre, matrix: m };
}

export function fitPreprocessor(
  x: FeatureMatrix,
  featureNames: readonly string[],
  options: PreprocessOptions = {},
): Preprocessor {
  return fitTransformPreprocessor(x, featureNames, options).preprocessor;
}

/** Apply a fitted preprocessor to new rows (same feature order/names as at fit time). */
export function transformRows(pre: Preprocessor, x: FeatureMatrix): DesignMatrix {
  const m = encode(pre, x);
  standardizeInPlace(pre, m);
  return m;
}

function standardizeInPlace(pre: Preprocessor, m: DesignMatrix): void {
  const { data, nRows, nCols } = m;
  const means = Float64Array.from(pre.means);
  const inv = Float64Array.from(pre.scales, (s) => 1 / s);
  for (let i = 0; i < nRows; i++) {
    const off = i * nCols;
    for (let c = 0; c < nCols; c++) data[off + c] = (data[off + c] - means[c]) * inv[c];
  }
}

/** Imputation + indicators + one-hot, before standardisation. */
function encode(pre: Preprocessor, x: FeatureMatrix): DesignMatrix {
  if (pre?.kind !== 'learnpipe.preprocessor' || pre.version !== 1) {
    throw new ModelError('BAD_PREPROCESSOR', 'not a learnpipe preprocessor (version 1)');
  }
  return encodeGrid(pre, cellGrid(x, pre.featureNames));
}

const NUM = 0, NUM_IND = 1, CAT = 2;

function encodeGrid(pre: Preprocessor, grid: ReturnType<typeof cellGrid>): DesignMatrix {
  const { nRows: n, rows, cols } = grid;
  const q = pre.features.length;
  const p = pre.outputNames.length;
  const kind = new Int8Array(q);
  const at = new Int32Array(q); // first output column of each feature
  const med = new Float64Array(q);
  const index: (Map<string, number> | null)[] = [];
  let c = 0;
  for (let j = 0; j < q; j++) {
    const f = pre.features[j];
    at[j] = c;
    if (f.kind === 'numeric') {
      kind[j] = f.missingIndicator ? NUM_IND : NUM;
      med[j] = f.median;
      index.push(null);
      c += f.missingIndicator ? 2 : 1;
    } else {
      kind[j] = CAT;
      const m = new Map<string, number>();
      f.categories.forEach((cat, k) => m.set(cat, k));
      index.push(m);
      c += f.categories.length;
    }
  }
  if (c !== p) throw new ModelError('BAD_PREPROCESSOR', 'preprocessor outputs do not match its features');
  const data = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const row = rows ? rows[i] : null;
    const off = i * p;
    for (let j = 0; j < q; j++) {
      const v = row ? row[j] : cols![j][i];
      const kj = kind[j];
      if (kj === CAT) {
        const key = categoryKey(v);
        const k = key === null ? undefined : index[j]!.get(key);
        if (k !== undefined) data[off + at[j] + k] = 1;
      } else {
        const num = typeof v === 'number' ? (v - v === 0 ? v : NaN) : numericValue(v, pre.features[j].name, i);
        const miss = num !== num;
        data[off + at[j]] = miss ? med[j] : num;
        if (kj === NUM_IND && miss) data[off + at[j] + 1] = 1;
      }
    }
  }
  return { data, nRows: n, nCols: p, names: [...pre.outputNames] };
}
