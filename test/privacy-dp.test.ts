import { test } from 'node:test';
import assert from 'node:assert/strict';
import { laplaceNoise, gaussianNoise, gaussianSigma, releaseCount, releaseBoundedSum, boundedSum, laplaceScale, DpError } from '../src/privacy/dp.js';
import { seededRng } from '../src/privacy/rng.js';

const N = 20000;

function moments(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

test('dp: Laplace noise has mean 0 and variance 2b² over 20000 seeded draws', () => {
  for (const b of [0.5, 2, 10]) {
    const rng = seededRng(`laplace-${b}`);
    const xs = Array.from({ length: N }, () => laplaceNoise(b, rng));
    const { mean, variance } = moments(xs);
    // sd of the mean = sqrt(2b²/N) ≈ 0.01·b: allow 5 sd
    assert.ok(Math.abs(mean) < 5 * Math.sqrt((2 * b * b) / N), `mean ${mean} for b=${b}`);
    // Laplace kurtosis is 6, so var of the sample variance ≈ (μ4 − σ⁴)/N = (24b⁴ − 4b⁴)/N: allow 5 sd (~16%)
    const sdVar = Math.sqrt((20 * b ** 4) / N);
    assert.ok(Math.abs(variance - 2 * b * b) < 5 * sdVar, `variance ${variance} vs ${2 * b * b} for b=${b}`);
    // median absolute value of Laplace(b) is b·ln 2
    const sorted = xs.map(Math.abs).sort((a, c) => a - c);
    assert.ok(Math.abs(sorted[N / 2] / (b * Math.LN2) - 1) < 0.05, `median |x| for b=${b}`);
  }
  assert.equal(laplaceNoise(0, seededRng('z')), 0);
});

test('dp: Gaussian noise has mean 0 and variance σ² over 20000 seeded draws', () => {
  const sigma = gaussianSigma(0.5, 1e-5, 1);
  assert.ok(Math.abs(sigma - Math.sqrt(2 * Math.log(1.25e5)) / 0.5) < 1e-12);
  const rng = seededRng('gauss');
  const xs = Array.from({ length: N }, () => gaussianNoise(sigma, rng));
  const { mean, variance } = moments(xs);
  assert.ok(Math.abs(mean) < 5 * sigma / Math.sqrt(N), `mean ${mean}`);
  const sdVar = sigma * sigma * Math.sqrt(2 / N);
  assert.ok(Math.abs(variance - sigma * sigma) < 5 * sdVar, `variance ${variance} vs ${sigma * sigma}`);
  // ~68.3% within one sigma
  const within = xs.filter((x) => Math.abs(x) <= sigma).length / N;
  assert.ok(Math.abs(within - 0.6827) < 0.015, `within 1σ: ${within}`);
});

test('dp: the same seed gives the same noise; parameters are validated', () => {
  assert.deepEqual(
    Array.from({ length: 5 }, ((r) => () => laplaceNoise(1, r))(seededRng('s'))),
    Array.from({ length: 5 }, ((r) => () => laplaceNoise(1, r))(seededRng('s'))),
  );
  assert.throws(() => gaussianSigma(1, 1e-5, 1), /epsilon < 1/);
  assert.throws(() => gaussianSigma(0.5, 0, 1), /delta/);
  assert.throws(() => laplaceScale(0, 1), DpError);
  assert.throws(() => releaseCount(10, { epsilon: 1, mechanism: 'laplace', delta: 1e-6, maxContributionsPerUser: 1 }, seededRng('x')), /delta to 0/);
  assert.throws(() => releaseCount(10, { epsilon: 1, mechanism: 'laplace', maxContributionsPerUser: 0 }, seededRng('x')), /maxContributionsPerUser/);
});

test('dp: releaseCount scales noise to the contribution bound and rounds', () => {
  const r = releaseCount(100, { epsilon: 0.5, mechanism: 'laplace', maxContributionsPerUser: 3 }, seededRng('c'));
  assert.equal(r.noise_scale, 6);
  assert.equal(r.sensitivity, 3);
  assert.equal(r.delta, 0);
  assert.equal(r.mechanism, 'laplace');
  assert.ok(Number.isInteger(r.value) && r.value >= 0);
  const g = releaseCount(100, { epsilon: 0.5, delta: 1e-6, mechanism: 'gaussian', maxContributionsPerUser: 2 }, seededRng('c'));
  assert.equal(g.noise_scale, gaussianSigma(0.5, 1e-6, 2));
  assert.equal(g.delta, 1e-6);
  // the noisy counts average to the true count
  const rng = seededRng('avg');
  const vals = Array.from({ length: 5000 }, () => releaseCount(1000, { epsilon: 1, mechanism: 'laplace', maxContributionsPerUser: 1 }, rng).value);
  assert.ok(Math.abs(moments(vals).mean - 1000) < 0.2);
});

test('dp: bounded sums clip each value and cap contributions per person', () => {
  const perUser = new Map<string, number[]>([
    ['a', [5, 500, -3]], // clipped to [0,10]: 5 + 10 (third dropped by the cap of 2)
    ['b', [1]],
    ['c', [-50, 2, 2]], // 0 + 2
  ]);
  assert.equal(boundedSum(perUser, 0, 10, 2), 5 + 10 + 1 + 0 + 2);
  assert.equal(boundedSum([[5, 500, -3], [1], [-50, 2, 2]], 0, 10, 5), 5 + 10 + 0 + 1 + 0 + 2 + 2);
  const r = releaseBoundedSum(perUser, { lower: 0, upper: 10, epsilon: 1, mechanism: 'laplace', maxContributionsPerUser: 2 }, seededRng('sum'));
  assert.equal(r.sensitivity, 20);
  assert.equal(r.noise_scale, 20);
  const neg = releaseBoundedSum(perUser, { lower: -40, upper: 10, epsilon: 2, mechanism: 'laplace', maxContributionsPerUser: 1 }, seededRng('sum'));
  assert.equal(neg.sensitivity, 40);
  assert.equal(neg.noise_scale, 20);
  // mean of many releases ≈ the clipped sum, not the raw sum
  const rng = seededRng('sum-avg');
  const vals = Array.from({ length: 4000 }, () => releaseBoundedSum(perUser, { lower: 0, upper: 10, epsilon: 1, mechanism: 'laplace', maxContributionsPerUser: 2 }, rng).value);
  const { mean } = moments(vals);
  assert.ok(Math.abs(mean - 18) < 5 * Math.sqrt((2 * 400) / 4000), `mean ${mean}`);
});
