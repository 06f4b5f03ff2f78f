// Differential privacy for aggregate releases: Laplace and Gaussian noise for counts and bounded sums.
//
// Plain words: a release is ε-differentially private when adding or removing any one person changes
// the probability of any published result by at most a factor e^ε (plus a small probability δ for the
// Gaussian mechanism). Smaller ε = more noise = more privacy. Noise is scaled to the *sensitivity*:
// the most one person can change the true value. learnpipe bounds it by capping how many rows
// (contributions) each person may add and by clipping each value into [lower, upper].
//
// Mechanisms
// - Laplace (pure ε-DP, δ = 0): noise ~ Laplace(0, b) with b = Δ/ε; variance 2b².
// - Gaussian ((ε, δ)-DP): noise ~ N(0, σ²) with σ = sqrt(2 ln(1.25/δ))·Δ/ε (Dwork & Roth 2014, Thm
//   A.1). This classical bound is only proven for ε < 1, so `gaussianSigma` refuses ε ≥ 1; use
//   Laplace there. Δ is the L2 sensitivity; for one scalar it equals the L1 sensitivity used here.
//
// Randomness: pass a `CryptoRng` (rng.ts) for real releases. A `SeededRng` is for tests and dry runs
// only: anyone who knows the seed can subtract the noise.
//
// Known limitation: noise is drawn with double-precision floats. Textbook floating-point Laplace
// sampling can leak through the pattern of low-order bits (Mironov 2012); counts are therefore
// released rounded to whole numbers (post-processing, which costs no privacy), and sums rounded to
// `roundTo` decimals. For high-stakes releases use a vetted DP library.
import { uniformOpenZero, type Rng } from './rng.js';

export type Mechanism = 'laplace' | 'gaussian';

export class DpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DpError';
  }
}

export interface DpRelease {
  /** The noisy value to publish (the true value is never returned). */
  value: number;
  /** Laplace scale b, or Gaussian standard deviation σ. */
  noise_scale: number;
  epsilon: number;
  /** 0 for Laplace. */
  delta: number;
  mechanism: Mechanism;
  /** The sensitivity Δ the noise was scaled to. */
  sensitivity: number;
}

export interface DpParams {
  epsilon: number;
  /** Required for Gaussian (e.g. 1e-6, well below 1 / number of people); must be 0 or absent for Laplace. */
  delta?: number;
  mechanism: Mechanism;
  /** The most rows any one person adds to the value (enforced by the caller for counts, here for sums). */
  maxContributionsPerUser: number;
}

export interface BoundedSumParams extends DpParams {
  lower: number;
  upper: number;
  /** Decimals the released sum is rounded to (default 6). */
  roundTo?: number;
}

function checkEpsilon(epsilon: number): void {
  if (!(Number.isFinite(epsilon) && epsilon > 0)) throw new DpError(`epsilon must be a positive number, got ${epsilon}`);
}

function checkContributions(m: number): void {
  if (!(Number.isInteger(m) && m >= 1)) throw new DpError(`maxContributionsPerUser must be a whole number ≥ 1, got ${m}`);
}

/** One draw of Laplace(0, scale): the difference of two independent Exp(1) draws, times the scale. */
export function laplaceNoise(scale: number, rng: Rng): number {
  if (!(Number.isFinite(scale) && scale >= 0)) throw new DpError(`Laplace scale must be a non-negative number, got ${scale}`);
  if (scale === 0) return 0;
  return scale * (Math.log(uniformOpenZero(rng)) - Math.log(uniformOpenZero(rng)));
}

/** One draw of N(0, sigma²) by the Box–Muller transform. */
export function gaussianNoise(sigma: number, rng: Rng): number {
  if (!(Number.isFinite(sigma) && sigma >= 0)) throw new DpError(`Gaussian sigma must be a non-negative number, got ${sigma}`);
  if (sigma === 0) return 0;
  const u1 = uniformOpenZero(rng);
  const u2 = rng.uniform();
  return sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Laplace scale b = Δ/ε. */
export function laplaceScale(epsilon: number, sensitivity: number): number {
  checkEpsilon(epsilon);
  if (!(Number.isFinite(sensitivity) && sensitivity >= 0)) throw new DpError(`sensitivity must be a non-negative number, got ${sensitivity}`);
  return sensitivity / epsilon;
}

/**
 * σ = sqrt(2 ln(1.25/δ))·Δ/ε for the Gaussian mechanism. The bound is proven for 0 < ε < 1 only; for
 * larger ε this function refuses (use Laplace, or the analytic Gaussian mechanism of Balle & Wang 2018).
 */
export function gaussianSigma(epsilon: number, delta: number, sensitivity: number): number {
  checkEpsilon(epsilon);
  if (epsilon >= 1) throw new DpError(`the Gaussian mechanism's noise formula holds only for epsilon < 1 (got ${epsilon}); use the Laplace mechanism or a smaller epsilon`);
  if (!(Number.isFinite(delta) && delta > 0 && delta < 1)) throw new DpError(`the Gaussian mechanism needs 0 < delta < 1 (got ${delta}); choose delta well below 1 / number of people, e.g. 1e-6`);
  if (!(Number.isFinite(sensitivity) && sensitivity >= 0)) throw new DpError(`sensitivity must be a non-negative number, got ${sensitivity}`);
  return (Math.sqrt(2 * Math.log(1.25 / delta)) * sensitivity) / epsilon;
}

/** Adds noise calibrated to `sensitivity` for the given mechanism; returns the unrounded noisy value. */
export function addNoise(trueValue: number, sensitivity: number, p: Pick<DpParams, 'epsilon' | 'delta' | 'mechanism'>, rng: Rng): DpRelease {
  if (p.mechanism === 'laplace') {
    if (p.delta !== undefined && p.delta !== 0) throw new DpError(`the Laplace mechanism is pure epsilon-DP: set delta to 0 (got ${p.delta})`);
    const b = laplaceScale(p.epsilon, sensitivity);
    return { value: trueValue + laplaceNoise(b, rng), noise_scale: b, epsilon: p.epsilon, delta: 0, mechanism: 'laplace', sensitivity };
  }
  if (p.mechanism === 'gaussian') {
    const sigma = gaussianSigma(p.epsilon, p.delta ?? NaN, sensitivity);
    return { value: trueValue + gaussianNoise(sigma, rng), noise_scale: sigma, epsilon: p.epsilon, delta: p.delta!, mechanism: 'gaussian', sensitivity };
  }
  throw new DpError(`unknown mechanism ${JSON.stringify(p.mechanism)}: use laplace or gaussian`);
}

/**
 * A noisy count. Sensitivity = maxContributionsPerUser (each person adds at most that many rows to the
 * count; the caller must make that true, e.g. by counting distinct people or capping rows per person).
 * The result is rounded to a whole number and floored at 0 (post-processing).
 */
export function releaseCount(count: number, p: DpParams, rng: Rng): DpRelease {
  checkContributions(p.maxContributionsPerUser);
  if (!Number.isFinite(count)) throw new DpError(`count must be a number, got ${count}`);
  const r = addNoise(count, p.maxContributionsPerUser, p, rng);
  return { ...r, value: Math.max(0, Math.round(r.value)) };
}

/**
 * Clips each value into [lower, upper] and keeps at most `maxContributionsPerUser` values per person
 * (the first ones, in the order given); returns the exact bounded sum. Exported for tests; do not
 * publish its result.
 */
export function boundedSum(perUserValues: number[][] | Map<string, number[]>, lower: number, upper: number, maxContributionsPerUser: number): number {
  checkContributions(maxContributionsPerUser);
  if (!(Number.isFinite(lower) && Number.isFinite(upper) && lower <= upper)) throw new DpError(`need finite bounds with lower ≤ upper (got ${lower}, ${upper})`);
  const lists = perUserValues instanceof Map ? perUserValues.values() : perUserValues;
  let sum = 0;
  for (const values of lists) {
    let kept = 0;
    for (const v of values) {
      if (kept >= maxContributionsPerUser) break;
      if (v === null || v === undefined || Number.isNaN(v)) continue;
      sum += Math.min(upper, Math.max(lower, v));
      kept++;
    }
  }
  return sum;
}

/**
 * A noisy sum of per-person values: each value is clipped into [lower, upper], each person contributes
 * at most `maxContributionsPerUser` values, so sensitivity = maxContributionsPerUser·max(|lower|, |upper|).
 */
export function releaseBoundedSum(perUserValues: number[][] | Map<string, number[]>, p: BoundedSumParams, rng: Rng): DpRelease {
  const exact = boundedSum(perUserValues, p.lower, p.upper, p.maxContributionsPerUser);
  const sensitivity = p.maxContributionsPerUser * Math.max(Math.abs(p.lower), Math.abs(p.upper));
  const r = addNoise(exact, sensitivity, p, rng);
  const f = 10 ** (p.roundTo ?? 6);
  return { ...r, value: Math.round(r.value * f) / f };
}
