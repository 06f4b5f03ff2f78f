/**
 * L2-regularised binary logistic regression (and focal-loss variant).
 *
 * Objective (minimised):  Σ_i w_i ℓ(y_i, z_i) + (l2 / 2) Σ_{j≥1} β_j²,
 * z_i = β_0 + Σ_j β_j x_ij; the intercept β_0 is not penalised. `l2` is
 * 1/C in scikit-learn terms. w_i = sampleWeight_i × classWeight(y_i) [× focal α_t].
 *
 * Solver: a few cheap L-BFGS iterations, finished by Newton/IRLS with a
 * backtracking line search (Hessian by Cholesky) when that is affordable,
 * else L-BFGS. Focal loss is not convex for γ > 0, so its Newton model uses
 * the per-row curvature clamped at ≥ 0 (the gradient and stopping rule stay
 * exact). Everything is deterministic: the start point is β = 0 with the
 * intercept at the weighted log-odds.
 */
import { type DesignMatrix, ModelError } from './types.js';
import { type ObjectiveFn, choleskySolve, lbfgs, lineSearch, normInf } from './optimize.js';

export type LossKind = 'logistic' | 'focal';
export type ClassWeightMode = 'balanced' | 'none';

export interface LogisticOptions {
  /** L2 penalty strength (default 1). */
  l2?: number;
  sampleWeight?: ArrayLike<number>;
  classWeight?: ClassWeightMode;
  loss?: LossKind;
  /** Focal γ ≥ 0 (default 2). γ = 0 is the logistic loss. */
  focalGamma?: number;
  /** Optional focal α ∈ (0,1): positives weighted α, negatives 1 − α. */
  focalAlpha?: number | null;
  fitIntercept?: boolean;
  /**
   * 'auto' (default): while n·(p+1)² ≤ 5e8, up to 30 L-BFGS iterations then Newton with
   * the exact Hessian (focal loss: per-row curvature clamped at ≥ 0); beyond that, L-BFGS
   * throughout.
   */
  solver?: 'auto' | 'newton' | 'lbfgs';
  maxIter?: number;
  /**
   * Converged when max|∇| ≤ tol · max(1, Σ w). Default 1e-12 (logistic) / 1e-10 (focal);
   * 1e-8 for large problems (n·(p+1)² > 5e8, L-BFGS only), where fitted probabilities then
   * agree with the exact optimum to ~1e-6.
   */
  tol?: number;
}

export interface ConvergenceInfo {
  solver: 'newton' | 'lbfgs' | 'lbfgs+newton';
  iterations: number;
  /** Max-abs of the gradient of the penalised objective at the solution. */
  gradNormInf: number;
  converged: boolean;
  objective: number;
  message: string;
  warnings: string[];
}

export interface LogisticModel {
  intercept: number;
  coefficients: number[];
  names: string[];
  loss: LossKind;
  l2: number;
  focalGamma: number | null;
  focalAlpha: number | null;
  classWeights: { negative: number; positive: number } | null;
  convergence: ConvergenceInfo;
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^z), overflow-safe. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function validateLabels(y: ArrayLike<number>, what = 'y'): void {
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) {
      throw new ModelError('BAD_LABEL', `${what}[${i}] = ${String(y[i])}; labels must be 0 or 1`);
    }
  }
}

/** scikit-learn's 'balanced' weights: n / (2 · n_c), from unweighted class counts. */
export function balancedClassWeights(y: ArrayLike<number>): { negative: number; positive: number } {
  validateLabels(y);
  let pos = 0;
  for (let i = 0; i < y.length; i++) pos += y[i];
  const n = y.length;
  const neg = n - pos;
  if (pos === 0 || neg === 0) {
    throw new ModelError('ONE_CLASS', `balanced class weights need both classes (positives ${pos}, negatives ${neg})`);
  }
  return { negative: n / (2 * neg), positive: n / (2 * pos) };
}

/** Per-row weights: sample weight × class weight (× focal α_t when given). */
export function effectiveWeights(
  y: ArrayLike<number>, sampleWeight?: ArrayLike<number>, classWeight: ClassWeightMode = 'none', focalAlpha?: number | null,
): Float64Array {
  const n = y.length;
  const w = new Float64Array(n);
  if (sampleWeight !== undefined && sampleWeight.length !== n) {
    throw new ModelError('WEIGHT_LENGTH', `sample weights have length ${sampleWeight.length} but y has ${n}`);
  }
  const cw = classWeight === 'balanced' ? balancedClassWeights(y) : { negative: 1, positive: 1 };
  for (let i = 0; i < n; i++) {
    const s = sampleWeight === undefined ? 1 : sampleWeight[i];
    if (!(s >= 0) || !Number.isFinite(s)) throw new ModelError('BAD_WEIGHT', `sample weight ${i} is ${String(s)}; weights must be finite and ≥ 0`);
    let a = y[i] === 1 ? cw.positive : cw.negative;
    if (focalAlpha !== undefined && focalAlpha !== null) a *= y[i] === 1 ? focalAlpha : 1 - focalAlpha;
    w[i] = s * a;
  }
  return w;
}

interface Problem { X: Float64Array; n: number; p: number; y: ArrayLike<number>; w: Float64Array; l2: number; fitIntercept: boolean }

function linearPredictor(X: Float64Array, off: number, p: number, beta: Float64Array): number {
  let z = beta[0];
  for (let j = 0; j < p; j++) z += beta[j + 1] * X[off + j];
  return z;
}

function addPenalty(pr: Problem, beta: Float64Array, grad: Float64Array, f: number): number {
  let pen = 0;
  for (let j = 1; j < beta.length; j++) { pen += beta[j] * beta[j]; grad[j] += pr.l2 * beta[j]; }
  if (!pr.fitIntercept) grad[0] = 0;
  return f + 0.5 * pr.l2 * pen;
}

function logisticObjective(pr: Problem): ObjectiveFn {
  const { X, n, p, y, w } = pr;
  return (beta, grad) => {
    grad.fill(0);
    let f = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      if (wi === 0) continue;
      const off = i * p;
      const z = linearPredictor(X, off, p, beta);
      f += wi * (softplus(z) - y[i] * z);
      const r = wi * (sigmoid(z) - y[i]);
      grad[0] += r;
      for (let j = 0; j < p; j++) grad[j + 1] += r * X[off + j];
    }
    return addPenalty(pr, beta, grad, f);
  };
}

/**
 * Focal loss of one row as a function of u = logit(p_t) (u = z for y = 1, −z for y = 0):
 * φ(u) = (1 − q)^γ · (−log q), q = σ(u). Returns φ, φ′ and φ″.
 */
export function focalRow(u: number, gamma: number): { value: number; d1: number; d2: number } {
  const L = softplus(-u); // −log q
  const q = sigmoid(u);
  const oneMinusQ = sigmoid(-u);
  const A = gamma === 0 ? 1 : Math.exp(-gamma * softplus(u)); // (1 − q)^γ
  const B = -gamma * q * L - oneMinusQ; // φ′ = A·B
  return {
    value: A * L,
    d1: A * B,
    d2: A * q * (oneMinusQ * (1 - gamma * (L - 1)) - gamma * B),
  };
}

function focalObjective(pr: Problem, gamma: number): ObjectiveFn {
  const { X, n, p, y, w } = pr;
  return (beta, grad) => {
    grad.fill(0);
    let f = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      if (wi === 0) continue;
      const off = i * p;
      const z = linearPredictor(X, off, p, beta);
      const s = y[i] === 1 ? 1 : -1;
      const row = focalRow(s * z, gamma);
      f += wi * row.value;
      const r = wi * s * row.d1;
      grad[0] += r;
      for (let j = 0; j < p; j++) grad[j + 1] += r * X[off + j];
    }
    return addPenalty(pr, beta, grad, f);
  };
}

const BLOCK = 128;

/**
 * Lower triangle of the Hessian of the logistic objective at `beta`:
 * Σ w μ(1−μ) x̃ x̃ᵀ + l2·I (x̃ = [1, x]; intercept unpenalised). Rows are
 * processed in blocks transposed to column-major so the inner loops are dot
 * products (much faster in JS than per-row rank-1 updates).
 */
function curvatureHessian(pr: Problem, beta: Float64Array, H: Float64Array, curvature: (z: number, y: number) => number): void {
  const { X, n, p, w } = pr;
  const d = p + 1;
  H.fill(0);
  const xc = new Float64Array(p * BLOCK);
  const sxc = new Float64Array(p * BLOCK);
  const s = new Float64Array(BLOCK);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const B = Math.min(BLOCK, n - i0);
    let sumS = 0;
    for (let t = 0; t < B; t++) {
      const i = i0 + t;
      const off = i * p;
      const wi = w[i];
      let si = 0;
      if (wi !== 0) si = wi * curvature(linearPredictor(X, off, p, beta), pr.y[i]);
      s[t] = si;
      sumS += si;
      for (let a = 0; a < p; a++) {
        const v = X[off + a];
        xc[a * BLOCK + t] = v;
        sxc[a * BLOCK + t] = si * v;
      }
    }
    H[0] += sumS;
    for (let a = 0; a < p; a++) {
      const ra = a * BLOCK;
      const row = (a + 1) * d;
      let h0 = 0;
      for (let t = 0; t < B; t++) h0 += sxc[ra + t];
      H[row] += h0;
      for (let b = 0; b <= a; b++) {
        const rb = b * BLOCK;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        let t = 0;
        for (; t + 3 < B; t += 4) {
          a0 += sxc[ra + t] * xc[rb + t];
          a1 += sxc[ra + t + 1] * xc[rb + t + 1];
          a2 += sxc[ra + t + 2] * xc[rb + t + 2];
          a3 += sxc[ra + t + 3] * xc[rb + t + 3];
        }
        for (; t < B; t++) a0 += sxc[ra + t] * xc[rb + t];
        H[row + 1 + b] += (a0 + a1) + (a2 + a3);
      }
    }
  }
  for (let j = 1; j < d; j++) H[j * d + j] += pr.l2;
  if (!pr.fitIntercept) {
    for (let j = 0; j < d; j++) H[j * d] = 0;
    H[0] = 1;
  }
}

/**
 * Newton with backtracking line search. `curvature(z, y)` is the per-row second
 * derivative of the loss in z (clamped at ≥ 0 for non-convex losses, giving a
 * positive semi-definite model Hessian); the objective, gradient and stopping
 * rule are exact, so the fixed point is the same.
 */
function newton(
  pr: Problem, fn: ObjectiveFn, beta0: Float64Array, maxIter: number, gtol: number,
  curvature: (z: number, y: number) => number,
) {
  const d = pr.p + 1;
  let beta: Float64Array = beta0;
  let grad: Float64Array = new Float64Array(d);
  let f = fn(beta, grad);
  const H = new Float64Array(d * d);
  let it = 0;
  let message = 'max iterations reached';
  let gn = normInf(grad);
  while (it < maxIter) {
    if (gn <= gtol) { message = 'gradient tolerance reached'; break; }
    curvatureHessian(pr, beta, H, curvature);
    const step = choleskySolve(H, grad, d);
    let ls = null;
    if (step !== null) {
      for (let j = 0; j < d; j++) step[j] = -step[j];
      ls = lineSearch(fn, beta, f, grad, step, 1);
    }
    if (ls === null) {
      const sd = new Float64Array(d);
      for (let j = 0; j < d; j++) sd[j] = -grad[j];
      ls = lineSearch(fn, beta, f, grad, sd, 1 / Math.max(1, gn));
    }
    if (ls === null) { message = 'line search failed (no further decrease possible)'; break; }
    it++;
    beta = ls.x; grad = ls.grad; f = ls.value; gn = normInf(grad);
  }
  return { x: beta, value: f, gradNormInf: gn, iterations: it, converged: gn <= gtol, message };
}

/** 'auto' uses Newton only while n·(p+1)² (≈ 2× the multiply-adds of one Hessian) is at most this. */
const NEWTON_BUDGET = 5e8;

export function fitLogistic(X: DesignMatrix, y: ArrayLike<number>, options: LogisticOptions = {}): LogisticModel {
  const { nRows: n, nCols: p } = X;
  if (y.length !== n) throw new ModelError('LABEL_LENGTH', `y has ${y.length} values but X has ${n} rows`);
  if (X.data.length !== n * p) throw new ModelError('BAD_MATRIX', 'design matrix data length is not nRows × nCols');
  validateLabels(y);
  const l2 = options.l2 ?? 1;
  if (!(l2 >= 0) || !Number.isFinite(l2)) throw new ModelError('BAD_OPTION', `l2 must be a finite number ≥ 0, got ${String(l2)}`);
  const loss = options.loss ?? 'logistic';
  const gamma = loss === 'focal' ? options.focalGamma ?? 2 : 0;
  if (!(gamma >= 0)) throw new ModelError('BAD_OPTION', `focalGamma must be ≥ 0, got ${String(gamma)}`);
  const alpha = loss === 'focal' ? options.focalAlpha ?? null : null;
  if (alpha !== null && !(alpha > 0 && alpha < 1)) throw new ModelError('BAD_OPTION', `focalAlpha must be in (0, 1), got ${String(alpha)}`);
  const classWeight = options.classWeight ?? 'none';
  const w = effectiveWeights(y, options.sampleWeight, classWeight, alpha);
  let sw = 0, swPos = 0;
  for (let i = 0; i < n; i++) { sw += w[i]; swPos += w[i] * y[i]; }
  if (!(sw > 0)) throw new ModelError('NO_WEIGHT', 'total training weight is zero');
  const pr: Problem = { X: X.data, n, p, y, w, l2, fitIntercept: options.fitIntercept ?? true };
  const requested = options.solver ?? 'auto';
  const d = p + 1;
  const large = n * d * d > NEWTON_BUDGET;
  const lbfgsOnly = requested === 'lbfgs' || (requested === 'auto' && large);
  const tol = options.tol ?? (large ? 1e-8 : loss === 'logistic' ? 1e-12 : 1e-10);
  const gtol = tol * Math.max(1, sw);
  const beta0 = new Float64Array(p + 1);
  if (pr.fitIntercept) {
    const prev = Math.min(1 - 1e-6, Math.max(1e-6, swPos / sw));
    beta0[0] = Math.log(prev / (1 - prev));
  }
  const fn = loss === 'logistic' ? logisticObjective(pr) : focalObjective(pr, gamma);
  const curvature = loss === 'logistic'
    ? (z: number) => { const mu = sigmoid(z); return mu * (1 - mu); }
    : (z: number, yi: number) => Math.max(0, focalRow(yi === 1 ? z : -z, gamma).d2);
  let solver: ConvergenceInfo['solver'];
  let res: ReturnType<typeof lbfgs>;
  if (requested === 'newton') {
    solver = 'newton';
    res = newton(pr, fn, beta0, options.maxIter ?? 100, gtol, curvature);
  } else if (lbfgsOnly) {
    solver = 'lbfgs';
    res = lbfgs(fn, beta0, { maxIter: options.maxIter ?? 2000, gtol });
  } else {
    // auto: cheap L-BFGS iterations first, then Newton (exact Hessian) to finish
    const first = lbfgs(fn, beta0, { maxIter: 30, gtol });
    if (first.converged) {
      solver = 'lbfgs';
      res = first;
    } else {
      solver = 'lbfgs+newton';
      const second = newton(pr, fn, first.x, options.maxIter ?? 100, gtol, curvature);
      res = { ...second, iterations: first.iterations + second.iterations };
    }
  }
  const warnings: string[] = [];
  let converged = res.converged;
  if (!converged && res.message.startsWith('line search') && res.gradNormInf <= 1e-7 * Math.max(1, sw)) {
    converged = true; // stalled at floating-point precision, gradient already negligible
  }
  if (!converged) warnings.push(`optimiser did not converge: ${res.message} (max|gradient| ${res.gradNormInf.toExponential(2)})`);
  if (l2 === 0) {
    let minMargin = Infinity;
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      const m = (2 * y[i] - 1) * linearPredictor(X.data, i * p, p, res.x);
      if (m < minMargin) minMargin = m;
    }
    if (minMargin > 0) warnings.push('training data are linearly separable; with l2 = 0 the coefficients diverge — use l2 > 0');
  }
  for (let j = 0; j <= p; j++) {
    if (!Number.isFinite(res.x[j])) throw new ModelError('DIVERGED', 'logistic regression produced non-finite coefficients');
  }
  const cw = classWeight === 'balanced' ? balancedClassWeights(y) : null;
  return {
    intercept: res.x[0],
    coefficients: Array.from(res.x.subarray(1)),
    names: [...X.names],
    loss, l2,
    focalGamma: loss === 'focal' ? gamma : null,
    focalAlpha: alpha,
    classWeights: cw,
    convergence: {
      solver, iterations: res.iterations, gradNormInf: res.gradNormInf, converged,
      objective: res.value, message: res.message, warnings,
    },
  };
}

/** Linear predictor (log-odds) for each row. */
export function predictLogit(model: { intercept: number; coefficients: ArrayLike<number> }, X: DesignMatrix): Float64Array {
  const p = X.nCols;
  if (model.coefficients.length !== p) {
    throw new ModelError('COLUMN_COUNT', `model has ${model.coefficients.length} coefficients but X has ${p} columns`);
  }
  const beta = new Float64Array(p + 1);
  beta[0] = model.intercept;
  for (let j = 0; j < p; j++) beta[j + 1] = model.coefficients[j];
  const out = new Float64Array(X.nRows);
  for (let i = 0; i < X.nRows; i++) out[i] = linearPredictor(X.data, i * p, p, beta);
  return out;
}

export function predictProba(model: { intercept: number; coefficients: ArrayLike<number> }, X: DesignMatrix): Float64Array {
  const z = predictLogit(model, X);
  for (let i = 0; i < z.length; i++) z[i] = sigmoid(z[i]);
  return z;
}
