/**
 * Probability calibration fitted on a held-out (validation) split.
 *  - Platt scaling: p = σ(a · logit(s) + b), fitted by Newton on the
 *    cross-entropy against Platt's smoothed targets (N+ + 1)/(N+ + 2) and 1/(N- + 2).
 *  - Isotonic regression: pool-adjacent-violators on scores sorted by x (tied x
 *    merged first into their weighted mean), stored as knots; new scores are
 *    linearly interpolated between knots and clipped outside the fitted range.
 * Both calibrators are plain JSON data.
 */
import { ModelError } from './types.js';
import { choleskySolve, lineSearch, normInf } from './optimize.js';
import { sigmoid, softplus, validateLabels } from './logistic.js';

export interface PlattCalibrator {
  kind: 'platt';
  /** Slope on the logit of the input score. */
  a: number;
  /** Intercept. */
  b: number;
}

export interface IsotonicCalibrator {
  kind: 'isotonic';
  /** Knot positions (strictly increasing scores). */
  x: number[];
  /** Fitted (non-decreasing) values at the knots. */
  y: number[];
}

const LOGIT_EPS = 1e-15;

/** logit of a probability, clipped to [1e-15, 1 − 1e-15]. */
export function logit(p: number): number {
  const q = Math.min(1 - LOGIT_EPS, Math.max(LOGIT_EPS, p));
  return Math.log(q / (1 - q));
}

function checkInputs(scores: ArrayLike<number>, y: ArrayLike<number>, weight: ArrayLike<number> | undefined, what: string): void {
  if (scores.length !== y.length) throw new ModelError('LABEL_LENGTH', `${what}: ${scores.length} scores but ${y.length} labels`);
  if (weight !== undefined && weight.length !== y.length) throw new ModelError('WEIGHT_LENGTH', `${what}: ${weight.length} weights but ${y.length} labels`);
  validateLabels(y);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new ModelError('BAD_SCORE', `${what}: score ${i} is ${String(scores[i])}`);
    if (weight !== undefined && !(weight[i] >= 0 && Number.isFinite(weight[i]))) {
      throw new ModelError('BAD_WEIGHT', `${what}: weight ${i} is ${String(weight[i])}`);
    }
  }
}

/** Fit Platt scaling on probability scores `scores` ∈ [0, 1] with labels `y`. */
export function fitPlatt(scores: ArrayLike<number>, y: ArrayLike<number>, weight?: ArrayLike<number>): PlattCalibrator {
  checkInputs(scores, y, weight, 'Platt scaling');
  const n = y.length;
  const f = new Float64Array(n);
  const w = new Float64Array(n);
  let nPos = 0, nNeg = 0;
  for (let i = 0; i < n; i++) {
    f[i] = logit(scores[i]);
    w[i] = weight === undefined ? 1 : weight[i];
    if (y[i] === 1) nPos += w[i]; else nNeg += w[i];
  }
  if (!(nPos > 0) || !(nNeg > 0)) throw new ModelError('ONE_CLASS', 'Platt scaling needs both positive and negative labels');
  const hi = (nPos + 1) / (nPos + 2);
  const lo = 1 / (nNeg + 2);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = y[i] === 1 ? hi : lo;
  const fn = (ab: Float64Array, g: Float64Array): number => {
    let val = 0, g0 = 0, g1 = 0;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      const z = ab[0] * f[i] + ab[1];
      val += w[i] * (softplus(z) - t[i] * z);
      const r = w[i] * (sigmoid(z) - t[i]);
      g0 += r * f[i]; g1 += r;
    }
    g[0] = g0; g[1] = g1;
    return val;
  };
  let ab: Float64Array = new Float64Array([0, Math.log((nPos + 1) / (nNeg + 1))]);
  let g: Float64Array = new Float64Array(2);
  let val = fn(ab, g);
  const gtol = 1e-12 * Math.max(1, nPos + nNeg);
  const H = new Float64Array(4);
  for (let it = 0; it < 100 && normInf(g) > gtol; it++) {
    H.fill(0);
    for (let i = 0; i < n; i++) {
      const mu = sigmoid(ab[0] * f[i] + ab[1]);
      const s = w[i] * mu * (1 - mu);
      H[0] += s * f[i] * f[i]; H[2] += s * f[i]; H[3] += s;
    }
    const step = choleskySolve(H, g, 2);
    let ls = null;
    if (step !== null) {
      step[0] = -step[0]; step[1] = -step[1];
      ls = lineSearch(fn, ab, val, g, step, 1);
    }
    if (ls === null) {
      ls = lineSearch(fn, ab, val, g, new Float64Array([-g[0], -g[1]]), 1 / Math.max(1, normInf(g)));
    }
    if (ls === null) break;
    ab = ls.x; g = ls.grad; val = ls.value;
  }
  return { kind: 'platt', a: ab[0], b: ab[1] };
}

export function applyPlatt(cal: PlattCalibrator, scores: ArrayLike<number>): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = sigmoid(cal.a * logit(scores[i]) + cal.b);
  return out;
}

/**
 * Pool-adjacent-violators: the weighted least-squares non-decreasing fit to `y`
 * taken in the given order.
 */
export function pava(y: ArrayLike<number>, weight?: ArrayLike<number>): Float64Array {
  const n = y.length;
  const sumWY = new Float64Array(n);
  const sumW = new Float64Array(n);
  const start = new Int32Array(n + 1);
  let k = 0; // number of blocks
  for (let i = 0; i < n; i++) {
    const wi = weight === undefined ? 1 : weight[i];
    sumWY[k] = wi * y[i]; sumW[k] = wi; start[k] = i; k++;
    while (k > 1 && sumWY[k - 2] * sumW[k - 1] >= sumWY[k - 1] * sumW[k - 2]) {
      // mean(k-2) >= mean(k-1) (cross-multiplied; weights ≥ 0): pool the two blocks
      sumWY[k - 2] += sumWY[k - 1]; sumW[k - 2] += sumW[k - 1]; k--;
    }
  }
  start[k] = n;
  const out = new Float64Array(n);
  for (let b = 0; b < k; b++) {
    const v = sumW[b] > 0 ? sumWY[b] / sumW[b] : 0;
    for (let i = start[b]; i < start[b + 1]; i++) out[i] = v;
  }
  return out;
}

/** Fit an isotonic (non-decreasing) map from scores `x` to labels/targets `y`. */
export function fitIsotonic(x: ArrayLike<number>, y: ArrayLike<number>, weight?: ArrayLike<number>): IsotonicCalibrator {
  if (x.length !== y.length) throw new ModelError('LABEL_LENGTH', `isotonic regression: ${x.length} scores but ${y.length} targets`);
  if (weight !== undefined && weight.length !== y.length) throw new ModelError('WEIGHT_LENGTH', 'isotonic regression: weights length mismatch');
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) throw new ModelError('BAD_SCORE', `isotonic regression: non-finite value at ${i}`);
    const wi = weight === undefined ? 1 : weight[i];
    if (!(wi >= 0) || !Number.isFinite(wi)) throw new ModelError('BAD_WEIGHT', `isotonic regression: weight ${i} is ${String(wi)}`);
    if (wi > 0) idx.push(i);
  }
  if (idx.length === 0) throw new ModelError('NO_DATA', 'isotonic regression needs at least one row with positive weight');
  idx.sort((a, b) => x[a] - x[b] || a - b);
  // merge tied x into one point with the weighted mean target
  const ux: number[] = [], uy: number[] = [], uw: number[] = [];
  for (let k = 0; k < idx.length;) {
    const xv = x[idx[k]];
    let sw = 0, swy = 0;
    while (k < idx.length && x[idx[k]] === xv) {
      const i = idx[k];
      const wi = weight === undefined ? 1 : weight[i];
      sw += wi; swy += wi * y[i]; k++;
    }
    ux.push(xv); uy.push(swy / sw); uw.push(sw);
  }
  const fit = pava(uy, uw);
  // keep only the first and last knot of each constant block (interpolation is unchanged)
  const kx: number[] = [], ky: number[] = [];
  for (let i = 0; i < ux.length; i++) {
    const prevSame = i > 0 && fit[i - 1] === fit[i];
    const nextSame = i + 1 < ux.length && fit[i + 1] === fit[i];
    if (prevSame && nextSame) continue;
    kx.push(ux[i]); ky.push(fit[i]);
  }
  return { kind: 'isotonic', x: kx, y: ky };
}

export function applyIsotonic(cal: IsotonicCalibrator, scores: ArrayLike<number>): Float64Array {
  const { x: kx, y: ky } = cal;
  const m = kx.length;
  if (m === 0 || ky.length !== m) throw new ModelError('BAD_CALIBRATOR', 'isotonic calibrator has no knots or mismatched knots');
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (Number.isNaN(s)) { out[i] = NaN; continue; }
    if (s <= kx[0]) { out[i] = ky[0]; continue; }
    if (s >= kx[m - 1]) { out[i] = ky[m - 1]; continue; }
    let lo = 0, hi = m - 1; // kx[lo] < s < kx[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (kx[mid] <= s) lo = mid; else hi = mid;
    }
    const t = (s - kx[lo]) / (kx[hi] - kx[lo]);
    out[i] = ky[lo] + t * (ky[hi] - ky[lo]);
  }
  return out;
}
