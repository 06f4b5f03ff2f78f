/**
 * Deterministic smooth optimisation helpers: a backtracking line search with an
 * approximate-Wolfe fallback (so steps are still accepted when the objective
 * decrease is below floating-point noise, as near an optimum), L-BFGS, and a
 * Cholesky solver for Newton steps.
 */

/** Writes the gradient at `x` into `grad` and returns the objective value. */
export type ObjectiveFn = (x: Float64Array, grad: Float64Array) => number;

export interface OptimizeResult {
  x: Float64Array;
  value: number;
  /** Max-abs of the gradient at `x`. */
  gradNormInf: number;
  iterations: number;
  converged: boolean;
  message: string;
}

export function normInf(v: Float64Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) { const a = Math.abs(v[i]); if (a > m || Number.isNaN(a)) m = a; }
  return m;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export interface LineSearchResult { alpha: number; value: number; x: Float64Array; grad: Float64Array }

/**
 * Backtracking from `alpha0`, halving. Accepts the first step meeting Armijo
 * (c1 = 1e-4) or, when the decrease is lost in rounding, the approximate Wolfe
 * conditions of Hager & Zhang. Returns null when no step is acceptable.
 */
export function lineSearch(
  fn: ObjectiveFn, x: Float64Array, value: number, grad: Float64Array, dir: Float64Array, alpha0: number,
): LineSearchResult | null {
  const slope = dot(grad, dir);
  if (!(slope < 0)) return null;
  const n = x.length;
  const xn = new Float64Array(n);
  const gn = new Float64Array(n);
  const noise = 1e-12 * Math.abs(value) + 1e-300;
  let alpha = alpha0;
  for (let k = 0; k < 60; k++) {
    for (let i = 0; i < n; i++) xn[i] = x[i] + alpha * dir[i];
    const fv = fn(xn, gn);
    if (Number.isFinite(fv)) {
      if (fv <= value + 1e-4 * alpha * slope) return { alpha, value: fv, x: xn, grad: gn };
      if (fv <= value + noise) {
        const s2 = dot(gn, dir);
        if (s2 >= 0.9 * slope && s2 <= -0.8 * slope) return { alpha, value: fv, x: xn, grad: gn };
      }
    }
    alpha *= 0.5;
  }
  return null;
}

export interface LbfgsOptions {
  maxIter?: number;
  /** Stop when max|grad| <= gtol. */
  gtol?: number;
  memory?: number;
}

export function lbfgs(fn: ObjectiveFn, x0: Float64Array, options: LbfgsOptions = {}): OptimizeResult {
  const maxIter = options.maxIter ?? 1000;
  const gtol = options.gtol ?? 1e-8;
  const m = options.memory ?? 10;
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fn(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(n);
  const alphaHist = new Float64Array(m);
  let it = 0;
  let message = 'max iterations reached';
  let gn = normInf(g);
  if (!Number.isFinite(f)) return { x, value: f, gradNormInf: gn, iterations: 0, converged: false, message: 'non-finite objective at start' };
  while (it < maxIter) {
    if (gn <= gtol) { message = 'gradient tolerance reached'; break; }
    // two-loop recursion: dir = -H g
    for (let i = 0; i < n; i++) dir[i] = -g[i];
    const k = S.length;
    for (let j = k - 1; j >= 0; j--) {
      const a = rho[j] * dot(S[j], dir);
      alphaHist[j] = a;
      const y = Y[j];
      for (let i = 0; i < n; i++) dir[i] -= a * y[i];
    }
    let alpha0 = 1;
    if (k > 0) {
      const gamma = dot(S[k - 1], Y[k - 1]) / dot(Y[k - 1], Y[k - 1]);
      for (let i = 0; i < n; i++) dir[i] *= gamma;
    } else {
      alpha0 = Math.min(1, 1 / Math.max(gn, 1e-300));
    }
    for (let j = 0; j < k; j++) {
      const b = rho[j] * dot(Y[j], dir);
      const s = S[j];
      const c = alphaHist[j] - b;
      for (let i = 0; i < n; i++) dir[i] += c * s[i];
    }
    let ls = lineSearch(fn, x, f, g, dir, alpha0);
    if (ls === null && k > 0) {
      // memory may be stale: restart with steepest descent
      S.length = 0; Y.length = 0; rho.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -g[i];
      ls = lineSearch(fn, x, f, g, dir, Math.min(1, 1 / Math.max(gn, 1e-300)));
    }
    it++;
    if (ls === null) { message = 'line search failed (no further decrease possible)'; it--; break; }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = ls.x[i] - x[i]; y[i] = ls.grad[i] - g[i]; }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / sy);
    }
    x = ls.x; g = ls.grad; f = ls.value; gn = normInf(g);
  }
  return { x, value: f, gradNormInf: gn, iterations: it, converged: gn <= gtol, message };
}

/**
 * Solves A z = b for symmetric positive-definite A (row-major d×d, only the
 * lower triangle is read). Adds a growing diagonal jitter if A is not
 * numerically positive-definite. Returns null if that fails too.
 */
export function choleskySolve(A: Float64Array, b: Float64Array, d: number): Float64Array | null {
  let maxDiag = 0;
  for (let i = 0; i < d; i++) maxDiag = Math.max(maxDiag, Math.abs(A[i * d + i]));
  const L = new Float64Array(d * d);
  for (let attempt = 0; attempt < 12; attempt++) {
    const jitter = attempt === 0 ? 0 : maxDiag * 1e-14 * Math.pow(100, attempt - 1) + 1e-300;
    let ok = true;
    for (let i = 0; i < d && ok; i++) {
      for (let j = 0; j <= i; j++) {
        let s = A[i * d + j] + (i === j ? jitter : 0);
        for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
        if (i === j) {
          if (!(s > 0)) { ok = false; break; }
          L[i * d + i] = Math.sqrt(s);
        } else {
          L[i * d + j] = s / L[j * d + j];
        }
      }
    }
    if (!ok) continue;
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = b[i];
      for (let k = 0; k < i; k++) s -= L[i * d + k] * z[k];
      z[i] = s / L[i * d + i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < d; k++) s -= L[k * d + i] * z[k];
      z[i] = s / L[i * d + i];
    }
    return z;
  }
  return null;
}
