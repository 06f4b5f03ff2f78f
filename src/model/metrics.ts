/**
 * Binary classification metrics. All accept optional non-negative sample weights.
 *
 *  - ROC AUC: the Mann-Whitney statistic with ties counted 1/2 (= midranks),
 *    computed exactly from tie groups: Σ_g pos_g·(neg below g + ½·neg_g) / (P·N).
 *  - Average precision (scikit-learn): Σ_k (R_k − R_{k−1})·P_k over distinct
 *    thresholds in decreasing order (tied scores form one threshold).
 *  - Log loss with probabilities clipped to [1e-15, 1 − 1e-15]; Brier score;
 *    expected calibration error over equal-width bins (weighted |mean p − frac positive|).
 */
import { ModelError } from './types.js';
import { validateLabels } from './logistic.js';

export interface BinaryMetrics {
  n: number;
  positives: number;
  /** Weighted fraction of positives. */
  prevalence: number;
  rocAuc: number | null;
  /** Average precision. */
  prAuc: number | null;
  logLoss: number;
  brier: number;
  /** Expected calibration error, 10 equal-width bins. */
  ece: number;
  /** Why a metric is null. */
  reasons: { rocAuc?: string; prAuc?: string };
}

export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  weight: number;
  meanPredicted: number | null;
  fractionPositive: number | null;
}

export interface RocCurve { fpr: number[]; tpr: number[]; thresholds: (number | null)[] }
export interface PrCurve { recall: number[]; precision: number[]; thresholds: (number | null)[] }

function check(y: ArrayLike<number>, s: ArrayLike<number>, w: ArrayLike<number> | undefined, probs: boolean): void {
  if (y.length !== s.length) throw new ModelError('LABEL_LENGTH', `${y.length} labels but ${s.length} scores`);
  if (w !== undefined && w.length !== y.length) throw new ModelError('WEIGHT_LENGTH', `${w.length} weights but ${y.length} labels`);
  validateLabels(y);
  for (let i = 0; i < s.length; i++) {
    const v = s[i];
    if (!Number.isFinite(v) || (probs && (v < 0 || v > 1))) {
      throw new ModelError('BAD_SCORE', `score ${i} is ${String(v)}; expected ${probs ? 'a probability in [0, 1]' : 'a finite number'}`);
    }
    if (w !== undefined && !(w[i] >= 0 && Number.isFinite(w[i]))) throw new ModelError('BAD_WEIGHT', `weight ${i} is ${String(w[i])}`);
  }
}

interface ThresholdTable {
  /** Distinct scores, decreasing. */
  thresholds: Float64Array;
  /** Cumulative (weighted) positives / negatives with score ≥ threshold. */
  tps: Float64Array;
  fps: Float64Array;
  P: number;
  N: number;
}

function thresholdTable(y: ArrayLike<number>, s: ArrayLike<number>, w?: ArrayLike<number>): ThresholdTable {
  const n = y.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const sc = Float64Array.from(s);
  order.sort((a, b) => sc[b] - sc[a] || a - b);
  const th: number[] = [], tps: number[] = [], fps: number[] = [];
  let tp = 0, fp = 0;
  for (let k = 0; k < n;) {
    const v = sc[order[k]];
    while (k < n && sc[order[k]] === v) {
      const i = order[k];
      const wi = w === undefined ? 1 : w[i];
      if (y[i] === 1) tp += wi; else fp += wi;
      k++;
    }
    th.push(v); tps.push(tp); fps.push(fp);
  }
  return { thresholds: Float64Array.from(th), tps: Float64Array.from(tps), fps: Float64Array.from(fps), P: tp, N: fp };
}

function aucFromTable(t: ThresholdTable): { value: number | null; reason?: string } {
  if (!(t.P > 0)) return { value: null, reason: 'ROC AUC is undefined: no positive labels (with positive weight)' };
  if (!(t.N > 0)) return { value: null, reason: 'ROC AUC is undefined: no negative labels (with positive weight)' };
  let num = 0, prevTp = 0, prevFp = 0;
  for (let g = 0; g < t.thresholds.length; g++) {
    const pos = t.tps[g] - prevTp;
    const neg = t.fps[g] - prevFp;
    // negatives strictly below this score: N − fps[g]
    num += pos * (t.N - t.fps[g] + 0.5 * neg);
    prevTp = t.tps[g]; prevFp = t.fps[g];
  }
  return { value: num / (t.P * t.N) };
}

function apFromTable(t: ThresholdTable): { value: number | null; reason?: string } {
  if (!(t.P > 0)) return { value: null, reason: 'average precision is undefined: no positive labels (with positive weight)' };
  let ap = 0, prevR = 0;
  for (let g = 0; g < t.thresholds.length; g++) {
    const denom = t.tps[g] + t.fps[g];
    if (!(denom > 0)) continue;
    const r = t.tps[g] / t.P;
    ap += (r - prevR) * (t.tps[g] / denom);
    prevR = r;
  }
  return { value: ap };
}

/** ROC AUC, or null when only one class is present. */
export function rocAuc(y: ArrayLike<number>, scores: ArrayLike<number>, weight?: ArrayLike<number>): number | null {
  check(y, scores, weight, false);
  return aucFromTable(thresholdTable(y, scores, weight)).value;
}

/** Average precision (PR AUC, scikit-learn definition), or null without positives. */
export function averagePrecision(y: ArrayLike<number>, scores: ArrayLike<number>, weight?: ArrayLike<number>): number | null {
  check(y, scores, weight, false);
  return apFromTable(thresholdTable(y, scores, weight)).value;
}

function wsum(w: ArrayLike<number> | undefined, n: number): number {
  if (w === undefined) return n;
  let s = 0;
  for (let i = 0; i < n; i++) s += w[i];
  return s;
}

export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, weight?: ArrayLike<number>, eps = 1e-15): number {
  check(y, p, weight, true);
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(1 - eps, Math.max(eps, p[i]));
    const wi = weight === undefined ? 1 : weight[i];
    s -= wi * (y[i] === 1 ? Math.log(q) : Math.log(1 - q));
  }
  return s / wsum(weight, y.length);
}

export function brierScore(y: ArrayLike<number>, p: ArrayLike<number>, weight?: ArrayLike<number>): number {
  check(y, p, weight, true);
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = weight === undefined ? 1 : weight[i];
    const d = p[i] - y[i];
    s += wi * d * d;
  }
  return s / wsum(weight, y.length);
}

/** Equal-width bins on [0, 1]; p = 1 falls in the last bin. Empty bins have null means. */
export function reliabilityBins(y: ArrayLike<number>, p: ArrayLike<number>, weight?: ArrayLike<number>, nBins = 10): ReliabilityBin[] {
  check(y, p, weight, true);
  const cnt = new Float64Array(nBins), sw = new Float64Array(nBins), sp = new Float64Array(nBins), sy = new Float64Array(nBins);
  for (let i = 0; i < y.length; i++) {
    const b = Math.min(nBins - 1, Math.floor(p[i] * nBins));
    const wi = weight === undefined ? 1 : weight[i];
    cnt[b] += 1; sw[b] += wi; sp[b] += wi * p[i]; sy[b] += wi * y[i];
  }
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nBins; b++) {
    bins.push({
      lower: b / nBins, upper: (b + 1) / nBins, count: cnt[b], weight: sw[b],
      meanPredicted: sw[b] > 0 ? sp[b] / sw[b] : null,
      fractionPositive: sw[b] > 0 ? sy[b] / sw[b] : null,
    });
  }
  return bins;
}

export function expectedCalibrationError(y: ArrayLike<number>, p: ArrayLike<number>, weight?: ArrayLike<number>, nBins = 10): number {
  const bins = reliabilityBins(y, p, weight, nBins);
  let total = 0, e = 0;
  for (const b of bins) {
    total += b.weight;
    if (b.weight > 0) e += b.weight * Math.abs((b.meanPredicted as number) - (b.fractionPositive as number));
  }
  return total > 0 ? e / total : 0;
}

/** ROC points at every distinct score (decreasing), starting at (0, 0) with threshold null (= +∞). */
export function rocCurve(y: ArrayLike<number>, scores: ArrayLike<number>, weight?: ArrayLike<number>): RocCurve {
  check(y, scores, weight, false);
  const t = thresholdTable(y, scores, weight);
  const fpr = [0], tpr = [0], thresholds: (number | null)[] = [null];
  for (let g = 0; g < t.thresholds.length; g++) {
    fpr.push(t.N > 0 ? t.fps[g] / t.N : 0);
    tpr.push(t.P > 0 ? t.tps[g] / t.P : 0);
    thresholds.push(t.thresholds[g]);
  }
  return { fpr, tpr, thresholds };
}

/**
 * Precision-recall points at distinct scores (decreasing) until full recall,
 * starting at recall 0 / precision 1 with threshold null, as scikit-learn.
 */
export function prCurve(y: ArrayLike<number>, scores: ArrayLike<number>, weight?: ArrayLike<number>): PrCurve {
  check(y, scores, weight, false);
  const t = thresholdTable(y, scores, weight);
  const recall = [0], precision = [1], thresholds: (number | null)[] = [null];
  for (let g = 0; g < t.thresholds.length && t.P > 0; g++) {
    const denom = t.tps[g] + t.fps[g];
    if (!(denom > 0)) continue;
    recall.push(t.tps[g] / t.P);
    precision.push(t.tps[g] / denom);
    thresholds.push(t.thresholds[g]);
    if (t.tps[g] >= t.P) break;
  }
  return { recall, precision, thresholds };
}

/** Keep at most `maxPoints` points (evenly spaced indices, endpoints kept) of parallel arrays. */
export function downsampleCurve<T extends { [K in keyof T]: unknown[] }>(curve: T, maxPoints: number): T {
  const keys = Object.keys(curve) as (keyof T)[];
  const len = keys.length ? (curve[keys[0]] as unknown[]).length : 0;
  if (len <= maxPoints || maxPoints < 2) return curve;
  const idx: number[] = [];
  for (let k = 0; k < maxPoints; k++) {
    const i = Math.round((k * (len - 1)) / (maxPoints - 1));
    if (idx.length === 0 || idx[idx.length - 1] !== i) idx.push(i);
  }
  const out = {} as Record<keyof T, unknown[]>;
  for (const key of keys) out[key] = idx.map((i) => (curve[key] as unknown[])[i]);
  return out as T;
}

/** All scalar metrics for probabilities `p` against labels `y`. */
export function binaryMetrics(y: ArrayLike<number>, p: ArrayLike<number>, weight?: ArrayLike<number>): BinaryMetrics {
  check(y, p, weight, true);
  if (y.length === 0) throw new ModelError('NO_DATA', 'cannot compute metrics on zero rows');
  const t = thresholdTable(y, p, weight);
  const auc = aucFromTable(t);
  const ap = apFromTable(t);
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i];
  const total = wsum(weight, y.length);
  const reasons: BinaryMetrics['reasons'] = {};
  if (auc.reason) reasons.rocAuc = auc.reason;
  if (ap.reason) reasons.prAuc = ap.reason;
  return {
    n: y.length, positives, prevalence: total > 0 ? t.P / total : 0,
    rocAuc: auc.value, prAuc: ap.value,
    logLoss: logLoss(y, p, weight), brier: brierScore(y, p, weight),
    ece: expectedCalibrationError(y, p, weight), reasons,
  };
}

/** Metrics of predicting the constant `prevalence` (e.g. the train prevalence) for every row. */
export function prevalenceBaseline(prevalence: number, y: ArrayLike<number>, weight?: ArrayLike<number>): BinaryMetrics {
  if (!(prevalence >= 0 && prevalence <= 1)) throw new ModelError('BAD_SCORE', `prevalence ${String(prevalence)} is not in [0, 1]`);
  return binaryMetrics(y, new Float64Array(y.length).fill(prevalence), weight);
}
