/**
 * Class-imbalance handling for the training table. Apply to the TRAIN split only: validation and test
 * rows must keep the real class balance or every metric computed on them is wrong.
 *
 * - `balancedWeights` / `sampleWeights`: scikit-learn's `class_weight='balanced'`,
 *   w_c = n_samples / (n_classes · count_c), n_classes = number of classes present.
 * - `randomUndersample`: keeps every minority row and a seeded random subset of majority rows.
 * - `randomOversample`: keeps every row and appends minority rows drawn with replacement.
 * - `smote`: keeps every row and appends synthetic minority rows x + u·(neighbour − x) (Chawla et al.
 *   2002), neighbour one of the k nearest minority rows of x.
 *
 * `ratio` is minority:majority AFTER resampling (imbalanced-learn's float `sampling_strategy`), in (0, 1],
 * default 1. Methods never go the other way: under-sampling never adds rows and over-sampling / SMOTE
 * never drop rows, so a ratio the data already meets leaves it unchanged. If one class is absent there is
 * nothing to balance and the rows are returned as they are (sorted).
 *
 * Determinism: the same rows (in any order, when `idColumn` is given), options and seed give the same
 * output rows in the same order on every platform. Inputs are first stable-sorted by `idColumn` (numbers
 * numerically, strings by UTF-16 code units; no locale); without `idColumn` the input order is kept, so it
 * must itself be deterministic. Kept originals come first in that order, added rows after them in the order
 * they were drawn. The PRNG is mulberry32, local to this file so other modules cannot shift its stream.
 *
 * Added rows (over-sampling and SMOTE) carry `synthetic: true` and originals `synthetic: false` (column
 * name configurable); filtering `synthetic == false` gives back the original train rows. With `idColumn`,
 * an added row's id is `${baseId}#dup${n}` (over-sampling) or `${baseId}#smote${n}` (SMOTE), n counting
 * 1, 2, … per base row, so ids stay unique.
 */

export type Value = number | string | boolean | null;
export type Row = Record<string, Value>;

export interface ResampleOptions {
  /** Label column; values 0/1 (booleans false/true accepted). */
  label: string;
  seed: number;
  /** Minority:majority count after resampling, in (0, 1]. Default 1. */
  ratio?: number;
  /** Stable-sort the input by this column first; also names the ids of added rows. */
  idColumn?: string;
}

export interface OversampleOptions extends ResampleOptions {
  /** Column marking added rows. Default `synthetic`. */
  syntheticColumn?: string;
}

export interface SmoteOptions extends OversampleOptions {
  /** Numeric feature columns to interpolate; everything else is copied from the base row. */
  numericColumns: string[];
  /** Nearest minority neighbours to choose from. Default 5 (capped at minority count − 1). */
  k?: number;
}

export interface ClassBalance {
  rows: number;
  positives: number;
  negatives: number;
  /** positives / (positives + negatives); null when there are none. */
  positive_rate: number | null;
}

export class ImbalanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImbalanceError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// PRNG

/** mulberry32 with a 32-bit seed mix; next() is uniform in [0, 1). */
class Mulberry32 {
  private state: number;
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new ImbalanceError(`seed must be a finite number, got ${seed}`);
    // Fold the whole (possibly > 32-bit or negative) seed into 32 bits so nearby seeds differ.
    const hi = Math.floor(seed / 4294967296);
    const lo = seed - hi * 4294967296;
    this.state = (Math.imul((lo >>> 0) ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(hi | 0, 0x27d4eb2f) ^ 0x9e3779b9) >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

/** For messages: JSON for plain values, String() for anything JSON cannot show (bigint, Date). */
function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function labelOf(row: Row, label: string, index: number): 0 | 1 {
  const v: unknown = row[label];
  if (v === 0 || v === false || v === 0n) return 0;
  if (v === 1 || v === true || v === 1n) return 1;
  throw new ImbalanceError(`row ${index}: label column "${label}" must be 0 or 1, got ${show(v)}`);
}

function compareIds(a: Value, b: Value): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Stable sort by idColumn (no-op copy without it). */
function ordered(rows: readonly Row[], idColumn: string | undefined): Row[] {
  const copy = rows.slice();
  if (idColumn === undefined) return copy;
  copy.forEach((r, i) => {
    const id = r[idColumn];
    if (id === null || id === undefined) throw new ImbalanceError(`row ${i}: id column "${idColumn}" is missing`);
  });
  // Array.prototype.sort is stable (ES2019).
  return copy.sort((a, b) => compareIds(a[idColumn], b[idColumn]));
}

function checkRatio(ratio: number | undefined): number {
  const r = ratio ?? 1;
  if (!(r > 0 && r <= 1)) throw new ImbalanceError(`ratio (minority:majority after resampling) must be in (0, 1], got ${ratio}`);
  return r;
}

interface Split {
  sorted: Row[];
  labels: (0 | 1)[];
  minority: 0 | 1;
  /** Indexes into `sorted`, ascending. */
  minIdx: number[];
  majIdx: number[];
}

function split(rows: readonly Row[], opts: ResampleOptions): Split {
  const sorted = ordered(rows, opts.idColumn);
  const labels = sorted.map((r, i) => labelOf(r, opts.label, i));
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((l, i) => (l === 1 ? pos : neg).push(i));
  // The minority is the smaller class; on a tie, class 1 (nothing will change anyway at ratio ≤ 1).
  const minority: 0 | 1 = pos.length <= neg.length ? 1 : 0;
  return minority === 1
    ? { sorted, labels, minority, minIdx: pos, majIdx: neg }
    : { sorted, labels, minority, minIdx: neg, majIdx: pos };
}

function idOf(row: Row, idColumn: string): string {
  return String(row[idColumn]);
}

// ---------------------------------------------------------------------------------------------------------
// Class weights

function countLabels(labels: readonly number[]): [number, number] {
  let n0 = 0;
  let n1 = 0;
  labels.forEach((l, i) => {
    if (l === 0) n0++;
    else if (l === 1) n1++;
    else throw new ImbalanceError(`label ${i} must be 0 or 1, got ${l}`);
  });
  return [n0, n1];
}

/**
 * scikit-learn `class_weight='balanced'`: n_samples / (n_classes · count_c), n_classes counting only the
 * classes present (as sklearn's `np.unique(y)`). A class that does not occur gets weight 1 (no row uses it;
 * 1 is neutral if the weights are applied elsewhere).
 */
export function balancedWeights(labels: readonly number[]): { 0: number; 1: number } {
  const [n0, n1] = countLabels(labels);
  const n = n0 + n1;
  const classes = (n0 > 0 ? 1 : 0) + (n1 > 0 ? 1 : 0);
  return {
    0: n0 > 0 ? n / (classes * n0) : 1,
    1: n1 > 0 ? n / (classes * n1) : 1,
  };
}

/** One balanced weight per label, for a `sample_weight` column. Weights sum to labels.length. */
export function sampleWeights(labels: readonly number[]): number[] {
  const w = balancedWeights(labels);
  return labels.map((l) => (l === 1 ? w[1] : w[0]));
}

/** Counts per class. Rows whose label is not 0/1 (e.g. null) count in `rows` only. */
export function classBalance(rows: readonly Row[], label: string): ClassBalance {
  let positives = 0;
  let negatives = 0;
  for (const r of rows) {
    const v: unknown = r[label];
    if (v === 1 || v === true || v === 1n) positives++;
    else if (v === 0 || v === false || v === 0n) negatives++;
  }
  const labelled = positives + negatives;
  return { rows: rows.length, positives, negatives, positive_rate: labelled === 0 ? null : positives / labelled };
}

// ---------------------------------------------------------------------------------------------------------
// Random under- and over-sampling

/**
 * Keeps all minority rows and round(n_min / ratio) majority rows (never more than there are), chosen
 * uniformly without replacement. Output: the kept rows in (sorted) input order.
 */
export function randomUndersample(rows: readonly Row[], opts: ResampleOptions): Row[] {
  const ratio = checkRatio(opts.ratio);
  const s = split(rows, opts);
  if (s.minIdx.length === 0) return s.sorted;
  const keep = Math.min(s.majIdx.length, Math.round(s.minIdx.length / ratio));
  const rng = new Mulberry32(opts.seed);
  // Partial Fisher–Yates over the majority indexes: the first `keep` slots are a uniform sample.
  const pool = s.majIdx.slice();
  for (let i = 0; i < keep; i++) {
    const j = i + rng.below(pool.length - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  const kept = new Set<number>(s.minIdx);
  for (let i = 0; i < keep; i++) kept.add(pool[i]);
  return s.sorted.filter((_, i) => kept.has(i));
}

/**
 * Keeps every row and appends minority rows drawn uniformly with replacement until the minority count is
 * round(ratio · n_maj). Appended rows are copies with `synthetic: true` (and a `#dup<n>` id).
 */
export function randomOversample(rows: readonly Row[], opts: OversampleOptions): Row[] {
  const ratio = checkRatio(opts.ratio);
  const mark = opts.syntheticColumn ?? 'synthetic';
  const s = split(rows, opts);
  const out = s.sorted.map((r) => ({ ...r, [mark]: false }));
  if (s.minIdx.length === 0) return out;
  const extra = Math.max(0, Math.round(ratio * s.majIdx.length) - s.minIdx.length);
  const rng = new Mulberry32(opts.seed);
  const perBase = new Map<number, number>();
  for (let i = 0; i < extra; i++) {
    const base = s.minIdx[rng.below(s.minIdx.length)];
    const n = (perBase.get(base) ?? 0) + 1;
    perBase.set(base, n);
    const row: Row = { ...s.sorted[base], [mark]: true };
    if (opts.idColumn !== undefined) row[opts.idColumn] = `${idOf(s.sorted[base], opts.idColumn)}#dup${n}`;
    out.push(row);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// SMOTE

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const v = values.slice().sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/**
 * SMOTE over `numericColumns`. Appends round(ratio · n_maj) − n_min synthetic minority rows. For each:
 * a base row x is drawn uniformly from the minority rows, a neighbour z uniformly from x's k nearest
 * minority rows, u uniformly from [0, 1), and every numeric column gets x + u·(z − x) (the same u for all
 * columns, so the point lies on the segment x–z).
 *
 * - Nulls: before distances and interpolation, a null is replaced by the median of that column over the
 *   minority rows (0 if all null). A column that is null in the base row stays null in the synthetic row.
 * - Distance: Euclidean on the imputed columns min-max scaled over the minority rows (a constant column
 *   scales to 0). Ties broken by row order. Interpolation is in the original units.
 * - Non-numeric columns (including the label) are copied from the base row. Interpolated values are not
 *   rounded, so an integer count may come out fractional, as in imbalanced-learn.
 * - Cost: brute-force kNN, O(n_min² · d) time for the neighbour lists (computed only for rows drawn as a
 *   base, at most n_min of them) and O(n_min · (d + k)) memory. Fine for tens of thousands of minority rows;
 *   beyond that, prefer class weights.
 *
 * Needs at least 2 minority rows (throws otherwise). k is capped at n_min − 1.
 */
export function smote(rows: readonly Row[], opts: SmoteOptions): Row[] {
  const ratio = checkRatio(opts.ratio);
  const mark = opts.syntheticColumn ?? 'synthetic';
  const k0 = opts.k ?? 5;
  if (!Number.isInteger(k0) || k0 < 1) throw new ImbalanceError(`k must be a positive integer, got ${opts.k}`);
  const cols = opts.numericColumns;
  if (new Set(cols).size !== cols.length) throw new ImbalanceError('numericColumns has duplicates');
  for (const c of cols) {
    if (c === opts.label) throw new ImbalanceError(`numericColumns must not include the label column "${c}"`);
    if (c === opts.idColumn) throw new ImbalanceError(`numericColumns must not include the id column "${c}"`);
    if (c === mark) throw new ImbalanceError(`numericColumns must not include the synthetic marker column "${c}"`);
  }

  const s = split(rows, opts);
  const out = s.sorted.map((r) => ({ ...r, [mark]: false }));
  const nMin = s.minIdx.length;
  if (nMin === 0) return out;
  const extra = Math.max(0, Math.round(ratio * s.majIdx.length) - nMin);
  if (extra === 0) return out;
  if (nMin < 2) throw new ImbalanceError(`SMOTE needs at least 2 minority rows to interpolate, found ${nMin}`);
  const k = Math.min(k0, nMin - 1);
  const d = cols.length;

  // Minority matrix (row-major), nulls imputed with the minority median of the column.
  const raw: (number | null)[][] = s.minIdx.map((ri) =>
    cols.map((c) => {
      const v = s.sorted[ri][c];
      if (v === null || v === undefined) return null;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new ImbalanceError(`row ${ri}: numeric column "${c}" must hold a finite number or null, got ${show(v)}`);
      }
      return v;
    }),
  );
  const medians = cols.map((_, j) => median(raw.filter((r) => r[j] !== null).map((r) => r[j] as number)));
  const X = raw.map((r) => r.map((v, j) => (v === null ? medians[j] : v)));
  const lo = cols.map(() => Infinity);
  const hi = cols.map(() => -Infinity);
  for (const r of X) {
    r.forEach((v, j) => {
      if (v < lo[j]) lo[j] = v;
      if (v > hi[j]) hi[j] = v;
    });
  }
  const scaled = X.map((r) => r.map((v, j) => (hi[j] > lo[j] ? (v - lo[j]) / (hi[j] - lo[j]) : 0)));

  const nnCache = new Map<number, number[]>();
  const neighbours = (i: number): number[] => {
    let nn = nnCache.get(i);
    if (nn) return nn;
    const dist: { j: number; d2: number }[] = [];
    const a = scaled[i];
    for (let j = 0; j < nMin; j++) {
      if (j === i) continue;
      const b = scaled[j];
      let d2 = 0;
      for (let c = 0; c < d; c++) d2 += (a[c] - b[c]) * (a[c] - b[c]);
      dist.push({ j, d2 });
    }
    dist.sort((p, q) => p.d2 - q.d2 || p.j - q.j);
    nn = dist.slice(0, k).map((e) => e.j);
    nnCache.set(i, nn);
    return nn;
  };

  const rng = new Mulberry32(opts.seed);
  const perBase = new Map<number, number>();
  for (let n = 0; n < extra; n++) {
    const i = rng.below(nMin);
    const nn = neighbours(i);
    const z = nn[rng.below(nn.length)];
    const u = rng.next();
    const baseRow = s.sorted[s.minIdx[i]];
    const row: Row = { ...baseRow, [mark]: true };
    cols.forEach((c, j) => {
      row[c] = raw[i][j] === null ? null : X[i][j] + u * (X[z][j] - X[i][j]);
    });
    if (opts.idColumn !== undefined) {
      const cnt = (perBase.get(i) ?? 0) + 1;
      perBase.set(i, cnt);
      row[opts.idColumn] = `${idOf(baseRow, opts.idColumn)}#smote${cnt}`;
    }
    out.push(row);
  }
  return out;
}
