import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ModelError, fitPreprocessor, fitTransformPreprocessor, transformRows,
  fitLogistic, predictProba, balancedClassWeights, focalRow,
  fitPlatt, applyPlatt, fitIsotonic, applyIsotonic, pava,
  rocAuc, averagePrecision, logLoss, brierScore, expectedCalibrationError, reliabilityBins,
  rocCurve, prCurve, binaryMetrics, prevalenceBaseline, downsampleCurve,
  fitBaseline, scoreRows,
  type DesignMatrix, type Split,
} from '../src/model/index.js';

// ---------- independent helpers (deliberately naive) ----------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gaussian(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}
const sig = (z: number) => 1 / (1 + Math.exp(-z));

function pairwiseAuc(y: number[], s: number[], w?: number[]): number {
  let num = 0, P = 0, N = 0;
  for (let i = 0; i < y.length; i++) {
    const wi = w ? w[i] : 1;
    if (y[i] === 1) P += wi; else N += wi;
  }
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < y.length; j++) {
      if (y[j] !== 0) continue;
      const ww = (w ? w[i] * w[j] : 1);
      if (s[i] > s[j]) num += ww; else if (s[i] === s[j]) num += 0.5 * ww;
    }
  }
  return num / (P * N);
}

/** AP straight from the definition: thresholds = distinct scores, brute-force counting. */
function naiveAp(y: number[], s: number[]): number {
  const ths = [...new Set(s)].sort((a, b) => b - a);
  const P = y.filter((v) => v === 1).length;
  let ap = 0, prevR = 0;
  for (const t of ths) {
    let tp = 0, fp = 0;
    for (let i = 0; i < y.length; i++) if (s[i] >= t) { if (y[i] === 1) tp++; else fp++; }
    const R = tp / P;
    ap += (R - prevR) * (tp / (tp + fp));
    prevR = R;
  }
  return ap;
}

function matrix(rows: number[][], names?: string[]): DesignMatrix {
  const n = rows.length, p = rows[0]?.length ?? 0;
  const data = new Float64Array(n * p);
  rows.forEach((r, i) => r.forEach((v, j) => { data[i * p + j] = v; }));
  return { data, nRows: n, nCols: p, names: names ?? Array.from({ length: p }, (_, j) => `x${j}`) };
}

/** Gradient of Σ w ℓ + (l2/2)||β||² (intercept unpenalised), coded independently. */
function penalisedGradient(rows: number[][], y: number[], w: number[], b0: number, b: number[], l2: number): number[] {
  const g = new Array(b.length + 1).fill(0);
  rows.forEach((x, i) => {
    const z = b0 + x.reduce((s, v, j) => s + v * b[j], 0);
    const r = w[i] * (sig(z) - y[i]);
    g[0] += r;
    x.forEach((v, j) => { g[j + 1] += r * v; });
  });
  b.forEach((v, j) => { g[j + 1] += l2 * v; });
  return g;
}

function randomLogisticData(seed: number, n: number, beta: number[], b0: number) {
  const r = mulberry32(seed), g = gaussian(r);
  const rows: number[][] = [], y: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = beta.map(() => g());
    rows.push(x);
    y.push(r() < sig(b0 + x.reduce((s, v, j) => s + v * beta[j], 0)) ? 1 : 0);
  }
  return { rows, y };
}

const maxAbs = (v: ArrayLike<number>) => Math.max(...Array.from(v, Math.abs));

// ---------- metrics ----------

describe('metrics', () => {
  it('ROC AUC equals the O(n²) pairwise count (ties = 1/2) exactly, weighted and unweighted', () => {
    for (const seed of [1, 2, 3, 4]) {
      const r = mulberry32(seed);
      const n = 250;
      const y: number[] = [], s: number[] = [], w: number[] = [];
      for (let i = 0; i < n; i++) {
        y.push(r() < 0.3 ? 1 : 0);
        s.push(Math.round((r() + 0.3 * y[i]) * 8) / 8); // heavy ties
        w.push(1 + Math.floor(r() * 4));
      }
      assert.equal(rocAuc(y, s), pairwiseAuc(y, s));
      assert.equal(rocAuc(y, s, w), pairwiseAuc(y, s, w));
    }
  });

  it('ROC AUC equals the Wilcoxon rank-sum (midrank) formula exactly, with ties', () => {
    // U = Σ midranks of positives − P(P+1)/2, AUC = U / (P·N): an independent, rank-based computation.
    const rankAuc = (y: number[], s: number[]) => {
      const order = s.map((_, i) => i).sort((a, b) => s[a] - s[b]);
      const rank = new Array<number>(s.length);
      for (let k = 0; k < order.length;) {
        let e = k;
        while (e + 1 < order.length && s[order[e + 1]] === s[order[k]]) e++;
        for (let t = k; t <= e; t++) rank[order[t]] = (k + e) / 2 + 1;
        k = e + 1;
      }
      let P = 0, R = 0;
      y.forEach((v, i) => { if (v === 1) { P++; R += rank[i]; } });
      return (R - (P * (P + 1)) / 2) / (P * (y.length - P));
    };
    // hand case: scores 1 2 2 3 / labels 0 1 0 1 → midranks 1 2.5 2.5 4; U = 6.5 − 3 = 3.5; AUC = 3.5/4
    assert.equal(rankAuc([0, 1, 0, 1], [1, 2, 2, 3]), 0.875);
    assert.equal(rocAuc([0, 1, 0, 1], [1, 2, 2, 3]), 0.875);
    for (const seed of [31, 32, 33]) {
      const r = mulberry32(seed);
      const y: number[] = [], s: number[] = [];
      for (let i = 0; i < 1000; i++) { y.push(r() < 0.2 ? 1 : 0); s.push(Math.round((r() + 0.4 * y[i]) * 20) / 20); }
      assert.equal(rocAuc(y, s), rankAuc(y, s));
      assert.equal(binaryMetrics(y, s.map((v) => v / 1.4)).rocAuc, rankAuc(y, s));
    }
  });

  it('scikit-learn doc example: AP = 0.8333…, ROC AUC = 0.75', () => {
    const y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8];
    assert.ok(Math.abs((averagePrecision(y, s) as number) - 5 / 6) < 1e-15);
    assert.equal(rocAuc(y, s), 0.75);
    assert.ok(Math.abs(naiveAp(y, s) - 5 / 6) < 1e-15);
  });

  it('average precision matches the definition on random data with ties', () => {
    const r = mulberry32(9);
    const y: number[] = [], s: number[] = [];
    for (let i = 0; i < 120; i++) { y.push(r() < 0.4 ? 1 : 0); s.push(Math.round((r() + 0.4 * y[i]) * 6) / 6); }
    assert.ok(Math.abs((averagePrecision(y, s) as number) - naiveAp(y, s)) < 1e-12);
    // PR curve reproduces AP: Σ ΔR·P
    const c = prCurve(y, s);
    let ap = 0;
    for (let k = 1; k < c.recall.length; k++) ap += (c.recall[k] - c.recall[k - 1]) * c.precision[k];
    assert.ok(Math.abs(ap - naiveAp(y, s)) < 1e-12);
    assert.equal(c.recall[c.recall.length - 1], 1);
  });

  it('ROC curve: starts at (0,0), ends at (1,1), trapezoid area = AUC', () => {
    const r = mulberry32(5);
    const y: number[] = [], s: number[] = [];
    for (let i = 0; i < 200; i++) { y.push(r() < 0.5 ? 1 : 0); s.push(Math.round((r() + 0.5 * y[i]) * 10) / 10); }
    const c = rocCurve(y, s);
    assert.equal(c.thresholds[0], null);
    assert.deepEqual([c.fpr[0], c.tpr[0]], [0, 0]);
    assert.deepEqual([c.fpr.at(-1), c.tpr.at(-1)], [1, 1]);
    let area = 0;
    for (let k = 1; k < c.fpr.length; k++) area += (c.fpr[k] - c.fpr[k - 1]) * (c.tpr[k] + c.tpr[k - 1]) / 2;
    assert.ok(Math.abs(area - pairwiseAuc(y, s)) < 1e-12);
    for (let k = 2; k < c.thresholds.length; k++) assert.ok((c.thresholds[k] as number) < (c.thresholds[k - 1] as number));
    const d = downsampleCurve(c, 5);
    assert.equal(d.fpr.length, 5);
    assert.deepEqual([d.fpr[0], d.fpr[4], d.tpr[4]], [0, 1, 1]);
  });

  it('log loss (eps-clipped) and Brier score against hand values', () => {
    assert.ok(Math.abs(logLoss([1, 0], [0.8, 0.3]) - -(Math.log(0.8) + Math.log(0.7)) / 2) < 1e-15);
    assert.ok(Math.abs(logLoss([1], [0]) - -Math.log(1e-15)) < 1e-9);
    assert.ok(Math.abs(brierScore([1, 0], [0.8, 0.3]) - (0.04 + 0.09) / 2) < 1e-15);
    assert.ok(Math.abs(logLoss([1, 0], [0.8, 0.3], [3, 1]) - -(3 * Math.log(0.8) + Math.log(0.7)) / 4) < 1e-15);
    assert.throws(() => logLoss([1], [1.5]), ModelError);
    assert.throws(() => logLoss([2], [0.5]), /labels must be 0 or 1/);
  });

  it('ECE: small for calibrated probabilities, large for distorted ones; bins are well formed', () => {
    const r = mulberry32(11);
    const p: number[] = [], y: number[] = [], q: number[] = [];
    for (let i = 0; i < 20000; i++) { const pi = r(); p.push(pi); y.push(r() < pi ? 1 : 0); q.push(pi * pi); }
    const good = expectedCalibrationError(y, p), bad = expectedCalibrationError(y, q);
    assert.ok(good < 0.02, `calibrated ECE ${good}`);
    assert.ok(bad > 0.1, `distorted ECE ${bad}`);
    // hand case: bins [0,.1) and [.9,1]
    const e = expectedCalibrationError([0, 1, 1, 1], [0.05, 0.95, 1, 0.95]);
    assert.ok(Math.abs(e - (0.25 * 0.05 + 0.75 * Math.abs((0.95 + 1 + 0.95) / 3 - 1))) < 1e-15);
    const bins = reliabilityBins(y, p);
    // hand case separating floor- from round-binning: bins 1 {.12,.18} and 5 {.55,.58}
    const e2 = expectedCalibrationError([0, 1, 1, 0], [0.12, 0.18, 0.55, 0.58]);
    assert.ok(Math.abs(e2 - (0.5 * Math.abs(0.15 - 0.5) + 0.5 * Math.abs(0.565 - 0.5))) < 1e-12, `ECE ${e2}`);
    assert.equal(bins.length, 10);
    assert.equal(bins.reduce((s, b) => s + b.count, 0), 20000);
    assert.equal(reliabilityBins([1], [1])[9].count, 1);
    assert.equal(reliabilityBins([1], [1])[0].meanPredicted, null);
  });

  it('undefined AUC → null with a reason; prevalence baseline', () => {
    const m = binaryMetrics([1, 1, 1], [0.2, 0.5, 0.9]);
    assert.equal(m.rocAuc, null);
    assert.match(m.reasons.rocAuc ?? '', /no negative/);
    assert.equal(m.prAuc, 1);
    const m0 = binaryMetrics([0, 0], [0.2, 0.5]);
    assert.equal(m0.prAuc, null);
    assert.match(m0.reasons.prAuc ?? '', /no positive/);
    const b = prevalenceBaseline(0.25, [1, 0, 0, 0, 1]);
    assert.equal(b.rocAuc, 0.5);
    assert.ok(Math.abs((b.prAuc as number) - 0.4) < 1e-15);
    assert.ok(Math.abs(b.brier - (2 * 0.75 ** 2 + 3 * 0.25 ** 2) / 5) < 1e-15);
    assert.ok(Math.abs(b.ece - 0.15) < 1e-15);
  });
});

// ---------- logistic regression ----------

describe('logistic regression', () => {
  it('reproduces the published unregularised fit (Wikipedia hours-studied example)', () => {
    const hours = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 4, 4.25, 4.5, 4.75, 5, 5.5];
    const pass = [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1];
    const m = fitLogistic(matrix(hours.map((h) => [h])), pass, { l2: 0 });
    assert.ok(Math.abs(m.intercept - -4.0777) < 1e-4, `intercept ${m.intercept}`);
    assert.ok(Math.abs(m.coefficients[0] - 1.5046) < 1e-4, `slope ${m.coefficients[0]}`);
    assert.equal(m.convergence.converged, true);
    assert.deepEqual(m.convergence.warnings, []);
  });

  it('one binary feature, unpenalised: coefficients are the hand-computed log odds of the 2×2 table', () => {
    // x = 0: 30 negatives, 10 positives → intercept = log(10/30); x = 1: 15 / 45 → slope = log(45/15) − log(10/30)
    const rows: number[][] = [], y: number[] = [];
    const add = (x: number, label: number, k: number) => { for (let i = 0; i < k; i++) { rows.push([x]); y.push(label); } };
    add(0, 0, 30); add(0, 1, 10); add(1, 0, 15); add(1, 1, 45);
    const m = fitLogistic(matrix(rows), y, { l2: 0 });
    assert.ok(Math.abs(m.intercept - Math.log(10 / 30)) < 1e-9, `intercept ${m.intercept}`);
    assert.ok(Math.abs(m.coefficients[0] - (Math.log(45 / 15) - Math.log(10 / 30))) < 1e-9, `slope ${m.coefficients[0]}`);
    // balanced class weights (n/(2·n_c): 100/90 for negatives, 100/110 for positives) scale the odds
    const b = fitLogistic(matrix(rows), y, { l2: 0, classWeight: 'balanced' });
    const wn = 100 / 90, wp = 100 / 110;
    assert.ok(Math.abs(b.intercept - Math.log((10 * wp) / (30 * wn))) < 1e-9);
    assert.ok(Math.abs(b.intercept + b.coefficients[0] - Math.log((45 * wp) / (15 * wn))) < 1e-9);
  });

  it('penalised gradient at the solution is ~0 and matches independent gradient descent', () => {
    const { rows, y } = randomLogisticData(21, 300, [1.2, -0.7, 0.3], -0.5);
    const r = mulberry32(22);
    const w = rows.map(() => 0.5 + r() * 2);
    const l2 = 3;
    for (const solver of ['auto', 'newton', 'lbfgs'] as const) {
      const m = fitLogistic(matrix(rows), y, { l2, sampleWeight: w, solver });
      const g = penalisedGradient(rows, y, w, m.intercept, m.coefficients, l2);
      assert.ok(maxAbs(g) < 1e-8, `${solver}: gradient ${maxAbs(g)}`);
      assert.ok(Math.abs(m.convergence.gradNormInf - maxAbs(g)) < 1e-8);
    }
    // plain full-batch gradient descent with a fixed 1/L step
    const m = fitLogistic(matrix(rows), y, { l2, sampleWeight: w });
    const n = rows.length, p = 3;
    let L = l2;
    rows.forEach((x, i) => { L += 0.25 * w[i] * (1 + x.reduce((s, v) => s + v * v, 0)); });
    let b0 = 0; const b = [0, 0, 0];
    for (let it = 0; it < 20000; it++) {
      const g = penalisedGradient(rows, y, w, b0, b, l2);
      b0 -= g[0] / L;
      for (let j = 0; j < p; j++) b[j] -= g[j + 1] / L;
    }
    assert.ok(n > 0);
    assert.ok(Math.abs(b0 - m.intercept) < 1e-5, `intercept ${b0} vs ${m.intercept}`);
    for (let j = 0; j < p; j++) assert.ok(Math.abs(b[j] - m.coefficients[j]) < 1e-5, `coef ${j}: ${b[j]} vs ${m.coefficients[j]}`);
  });

  it('integer sample weights equal duplicated rows', () => {
    const { rows, y } = randomLogisticData(25, 80, [0.9, -0.6], 0.2);
    const w = rows.map((_, i) => 1 + (i % 3));
    const dupRows: number[][] = [], dupY: number[] = [];
    rows.forEach((x, i) => { for (let k = 0; k < w[i]; k++) { dupRows.push(x); dupY.push(y[i]); } });
    const a = fitLogistic(matrix(rows), y, { l2: 2, sampleWeight: w });
    const b = fitLogistic(matrix(dupRows), dupY, { l2: 2 });
    assert.ok(Math.abs(a.intercept - b.intercept) < 1e-10);
    a.coefficients.forEach((c, j) => assert.ok(Math.abs(c - b.coefficients[j]) < 1e-10));
  });

  it('separable data: finite with l2 > 0, flagged with l2 = 0', () => {
    const rows = [[-3], [-2], [-1], [1], [2], [3]], y = [0, 0, 0, 1, 1, 1];
    const m = fitLogistic(matrix(rows), y, { l2: 1 });
    assert.ok(m.coefficients.every(Number.isFinite) && Number.isFinite(m.intercept));
    assert.ok(m.coefficients[0] > 0 && m.coefficients[0] < 10);
    assert.equal(m.convergence.converged, true);
    assert.ok(maxAbs(penalisedGradient(rows, y, y.map(() => 1), m.intercept, m.coefficients, 1)) < 1e-8);
    const m0 = fitLogistic(matrix(rows), y, { l2: 0, maxIter: 30 });
    assert.ok(m0.convergence.warnings.some((s) => /separable/.test(s)));
  });

  it('balanced class weights follow scikit-learn (n / (2·n_c)) and act as sample weights', () => {
    const y = [1, 0, 0, 1, 0, 0, 0, 0, 1, 0];
    assert.deepEqual(balancedClassWeights(y), { negative: 10 / (2 * 7), positive: 10 / (2 * 3) });
    assert.throws(() => balancedClassWeights([1, 1]), /both classes/);
    const { rows, y: yy } = randomLogisticData(31, 200, [0.8, -0.4], -1.5);
    const cw = balancedClassWeights(yy);
    const a = fitLogistic(matrix(rows), yy, { classWeight: 'balanced', l2: 0.5 });
    const b = fitLogistic(matrix(rows), yy, { sampleWeight: yy.map((v) => (v ? cw.positive : cw.negative)), l2: 0.5 });
    assert.ok(Math.abs(a.intercept - b.intercept) < 1e-10);
    a.coefficients.forEach((c, j) => assert.ok(Math.abs(c - b.coefficients[j]) < 1e-10));
    assert.deepEqual(a.classWeights, cw);
    // balancing shifts the intercept up (positives are the minority here)
    const plain = fitLogistic(matrix(rows), yy, { l2: 0.5 });
    assert.ok(a.intercept > plain.intercept);
  });

  it('focal row loss: derivatives match central differences; γ = 0 is the logistic loss', () => {
    for (const gamma of [0, 0.5, 2, 5]) {
      for (let u = -15; u <= 15; u += 0.73) {
        const h = 1e-4, r = focalRow(u, gamma), a = focalRow(u + h, gamma), b = focalRow(u - h, gamma);
        assert.ok(Math.abs((a.value - b.value) / (2 * h) - r.d1) < 1e-6 * Math.max(1, Math.abs(r.d1)), `d1 γ=${gamma} u=${u}`);
        assert.ok(Math.abs((a.d1 - b.d1) / (2 * h) - r.d2) < 1e-6 * Math.max(1, Math.abs(r.d2)), `d2 γ=${gamma} u=${u}`);
        if (gamma === 0) assert.ok(Math.abs(r.value - Math.log1p(Math.exp(-u))) < 1e-12);
      }
    }
  });

  it('focal loss: γ = 0 equals the logistic solution; γ = 2 is a stationary point of an independent focal objective', () => {
    const { rows, y } = randomLogisticData(41, 300, [1, -1, 0.5], 0.3);
    const X = matrix(rows);
    const lr = fitLogistic(X, y, { l2: 1 });
    const f0 = fitLogistic(X, y, { l2: 1, loss: 'focal', focalGamma: 0 });
    assert.ok(Math.abs(f0.intercept - lr.intercept) < 1e-6);
    f0.coefficients.forEach((c, j) => assert.ok(Math.abs(c - lr.coefficients[j]) < 1e-6));

    const gamma = 2, alpha = 0.25, l2 = 1;
    const fl = fitLogistic(X, y, { l2, loss: 'focal', focalGamma: gamma, focalAlpha: alpha });
    assert.equal(fl.convergence.converged, true);
    const obj = (beta: number[]) => {
      let f = 0;
      rows.forEach((x, i) => {
        const p = sig(beta[0] + x.reduce((s, v, j) => s + v * beta[j + 1], 0));
        const pt = y[i] === 1 ? p : 1 - p;
        const at = y[i] === 1 ? alpha : 1 - alpha;
        f += -at * Math.pow(1 - pt, gamma) * Math.log(pt);
      });
      return f + 0.5 * l2 * beta.slice(1).reduce((s, v) => s + v * v, 0);
    };
    const beta = [fl.intercept, ...fl.coefficients];
    const h = 1e-5;
    for (let j = 0; j < beta.length; j++) {
      const up = beta.slice(), dn = beta.slice();
      up[j] += h; dn[j] -= h;
      const gj = (obj(up) - obj(dn)) / (2 * h);
      assert.ok(Math.abs(gj) < 1e-6, `focal d/dβ${j} = ${gj}`);
    }
    // focal fit differs from logistic (not silently the same model)
    assert.ok(Math.abs(fl.coefficients[0] - lr.coefficients[0]) > 1e-3);
  });
});

// ---------- calibration ----------

/** Isotonic fit by the min-max formula: f_i = max_{j≤i} min_{k≥i} mean(y_j..y_k). */
function minMaxIsotonic(y: number[]): number[] {
  const n = y.length;
  return y.map((_, i) => {
    let best = -Infinity;
    for (let j = 0; j <= i; j++) {
      let m = Infinity;
      for (let k = i; k < n; k++) {
        let s = 0;
        for (let t = j; t <= k; t++) s += y[t];
        m = Math.min(m, s / (k - j + 1));
      }
      best = Math.max(best, m);
    }
    return best;
  });
}

describe('calibration', () => {
  it('PAV: hand case and the min-max formula', () => {
    assert.deepEqual(Array.from(pava([1, 3, 2, 4, 3, 5])), [1, 2.5, 2.5, 3.5, 3.5, 5]);
    const r = mulberry32(51);
    for (let rep = 0; rep < 5; rep++) {
      const y = Array.from({ length: 25 }, () => Math.round(r() * 10 + 0.2 * rep));
      const got = Array.from(pava(y)), want = minMaxIsotonic(y);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12));
      for (let i = 1; i < got.length; i++) assert.ok(got[i] >= got[i - 1]);
    }
    assert.deepEqual(Array.from(pava([3, 1], [1, 3])), [1.5, 1.5]);
  });

  it('isotonic: ties on x merged, interpolation, clipping, JSON round trip', () => {
    const cal = fitIsotonic([0, 1, 1, 2, 3], [0, 1, 0, 0, 1]);
    const out = applyIsotonic(cal, [-5, 0, 1, 1.5, 2, 2.5, 3, 10]);
    const want = [0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1, 1];
    Array.from(out).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `${i}: ${v}`));
    const again = applyIsotonic(JSON.parse(JSON.stringify(cal)), [-5, 0, 1, 1.5, 2, 2.5, 3, 10]);
    assert.deepEqual(Array.from(again), Array.from(out));
    // monotone on random data (unsorted input with ties)
    const r = mulberry32(52);
    const x = Array.from({ length: 500 }, () => Math.round(r() * 50) / 50);
    const y = x.map((v) => (r() < v ? 1 : 0));
    const c2 = fitIsotonic(x, y);
    const grid = Array.from({ length: 101 }, (_, i) => i / 100);
    const g = applyIsotonic(c2, grid);
    for (let i = 1; i < g.length; i++) assert.ok(g[i] >= g[i - 1]);
    assert.ok(g[0] >= 0 && g[100] <= 1);
  });

  it('Platt: stationary point of the smoothed-target objective, monotone, improves log loss', () => {
    const r = mulberry32(61), gs = gaussian(r);
    const make = (n: number) => {
      const s: number[] = [], y: number[] = [];
      for (let i = 0; i < n; i++) {
        const z = 1.5 * gs();
        y.push(r() < sig(z) ? 1 : 0);
        s.push(sig(3 * z + 1)); // over-confident and shifted
      }
      return { s, y };
    };
    const fit = make(2000), hold = make(2000);
    const cal = fitPlatt(fit.s, fit.y);
    // independent check of the fitted (a, b): gradient of Σ [softplus(z) − t z] with Platt targets
    const nPos = fit.y.filter((v) => v === 1).length, nNeg = fit.y.length - nPos;
    let ga = 0, gb = 0;
    fit.s.forEach((s, i) => {
      const f = Math.log(s / (1 - s));
      const t = fit.y[i] === 1 ? (nPos + 1) / (nPos + 2) : 1 / (nNeg + 2);
      const d = sig(cal.a * f + cal.b) - t;
      ga += d * f; gb += d;
    });
    assert.ok(Math.abs(ga) < 1e-8 && Math.abs(gb) < 1e-8, `grad ${ga} ${gb}`);
    assert.ok(Math.abs(cal.a - 1 / 3) < 0.05, `slope ${cal.a}`);
    const grid = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
    const out = applyPlatt(cal, grid);
    for (let i = 1; i < out.length; i++) assert.ok(out[i] > out[i - 1]);
    const before = logLoss(hold.y, hold.s), after = logLoss(hold.y, applyPlatt(cal, hold.s));
    assert.ok(after < before - 0.02, `log loss ${before} → ${after}`);
    assert.deepEqual(Array.from(applyPlatt(JSON.parse(JSON.stringify(cal)), grid)), Array.from(out));
  });
});

// ---------- preprocessing ----------

describe('preprocessing', () => {
  it('medians and missing indicators are fitted on train only', () => {
    const train = [[1, 5, 'a'], [null, 6, 'b'], [3, 7, 'a'], [10, 8, null]];
    const pre = fitPreprocessor(train, ['a', 'b', 'c'], { standardize: false });
    assert.deepEqual(pre.outputNames, ['a', 'a__is_missing', 'b', 'c=a', 'c=b']);
    assert.deepEqual(pre.features.map((f) => (f.kind === 'numeric' ? f.median : f.categories)), [3, 6.5, ['a', 'b']]);
    const other = [[null, null, 'zzz'], [100, 1000, 'b']];
    const m = transformRows(pre, other);
    assert.deepEqual(Array.from(m.data), [3, 1, 6.5, 0, 0, 100, 0, 1000, 0, 1]);
    // fitting on other data would give other medians: train-only fit is what we got
    assert.equal(fitPreprocessor(other, ['a', 'b', 'c']).features[0].kind, 'numeric');
  });

  it('standardises with train mean / population std (std 0 → 1) and round-trips through JSON', () => {
    const r = mulberry32(71);
    const rows = Array.from({ length: 50 }, () => [r() * 10, r() < 0.2 ? null : r(), 4, r() < 0.5 ? 'x' : 'y']);
    const { preprocessor: pre, matrix } = fitTransformPreprocessor(rows, ['u', 'v', 'const', 'cat']);
    const p = matrix.nCols;
    for (let c = 0; c < p; c++) {
      let s = 0, ss = 0;
      for (let i = 0; i < 50; i++) s += matrix.data[i * p + c];
      for (let i = 0; i < 50; i++) ss += (matrix.data[i * p + c] - s / 50) ** 2;
      assert.ok(Math.abs(s / 50) < 1e-12);
      const name = pre.outputNames[c];
      if (name === 'const') assert.equal(pre.scales[c], 1);
      else assert.ok(Math.abs(ss / 50 - 1) < 1e-12, `${name} variance ${ss / 50}`);
    }
    const u = pre.outputNames.indexOf('u');
    assert.ok(Math.abs(matrix.data[u] - (rows[0][0] as number - pre.means[u]) / pre.scales[u]) < 1e-15);
    const json = JSON.parse(JSON.stringify(pre));
    assert.deepEqual(json, pre);
    assert.deepEqual(Array.from(transformRows(json, rows).data), Array.from(matrix.data));
    // column-major input (array and record forms) gives identical output
    const cols = [0, 1, 2, 3].map((j) => rows.map((row) => row[j]));
    assert.deepEqual(Array.from(transformRows(pre, { columns: cols }).data), Array.from(matrix.data));
    const rec = { u: cols[0], v: cols[1], const: cols[2], cat: cols[3] };
    assert.deepEqual(Array.from(transformRows(pre, { columns: rec }).data), Array.from(matrix.data));
  });

  it('medians match sorting; categories capped; clear errors', () => {
    const r = mulberry32(81);
    for (const n of [1, 2, 7, 100, 101]) {
      const vals = Array.from({ length: n }, () => Math.round(r() * 20));
      const s = vals.slice().sort((a, b) => a - b);
      const want = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
      const pre = fitPreprocessor(vals.map((v) => [v]), ['x']);
      assert.equal(pre.features[0].kind === 'numeric' && pre.features[0].median, want);
    }
    const pre = fitPreprocessor([['a'], ['b'], ['b'], ['c'], ['c'], ['c']], ['k'], { maxCategories: 2 });
    assert.deepEqual(pre.outputNames, ['k=b', 'k=c']);
    const numeric = fitPreprocessor([[1], [2]], ['n']);
    assert.throws(() => transformRows(numeric, [['oops']]), /feature "n" is numeric.*"oops"/);
    assert.throws(() => transformRows(numeric, [[1, 2]]), /row 0 has 2 values/);
  });
});

// ---------- orchestrator ----------

interface RowSplit extends Split { X: (number | string | null)[][]; y: number[] }

function syntheticSplit(seed: number, n: number, signal: boolean): RowSplit {
  const r = mulberry32(seed), g = gaussian(r);
  const X: (number | string | null)[][] = [], y: number[] = [];
  const depts = ['eng', 'ops', 'sales'];
  for (let i = 0; i < n; i++) {
    const hours = g(), quiz = g(), noise = g(), dept = depts[Math.floor(r() * 3)];
    const z = signal ? -0.5 + 2 * hours - 1.2 * quiz + (dept === 'sales' ? 1 : 0) : 0;
    y.push(r() < sig(z) ? 1 : 0);
    X.push([r() < 0.1 ? null : hours, quiz, noise, dept]);
  }
  return { X, y };
}
const NAMES = ['hours', 'quiz', 'noise', 'dept'];

describe('fitBaseline', () => {
  it('finds real signal, calibrates, scores new rows identically after JSON round trip', () => {
    const train = syntheticSplit(1, 3000, true), validation = syntheticSplit(2, 1500, true), test = syntheticSplit(3, 1500, true);
    const { model, evaluation: ev } = fitBaseline({ train, validation, test, featureNames: NAMES, options: { l2: 1, seed: 7 } });
    assert.ok((ev.test.uncalibrated.rocAuc as number) > 0.8, `AUC ${ev.test.uncalibrated.rocAuc}`);
    assert.equal(ev.test.prevalenceBaseline.rocAuc, 0.5);
    assert.ok(ev.test.uncalibrated.logLoss < ev.test.prevalenceBaseline.logLoss);
    assert.equal(ev.test.platt.rocAuc, ev.test.uncalibrated.rocAuc); // monotone map keeps the ranking
    assert.equal(ev.topFeatures[0].name, 'hours');
    assert.equal(ev.topFeatures[0].sign, 1);
    assert.equal(ev.topFeatures.find((f) => f.name === 'quiz')?.sign, -1);
    assert.ok(ev.topFeatures.some((f) => f.name === 'hours__is_missing'));
    assert.deepEqual(ev.splits.test.rows, 1500);
    assert.equal(ev.splits.train.positives, train.y.reduce((s, v) => s + v, 0));
    assert.equal(model.convergence.converged, true);
    assert.equal(model.seed, 7);
    assert.ok(ev.curves.roc.uncalibrated.fpr.length <= 201);
    // everything is plain, finite JSON (NaN/Infinity would turn into null)
    assert.deepEqual(JSON.parse(JSON.stringify({ model, ev })), { model, ev });
    // scoring reproduces the evaluation, also from a JSON copy of the model
    const copy = JSON.parse(JSON.stringify(model));
    for (const cal of ['none', 'platt', 'isotonic'] as const) {
      const p = scoreRows(copy, test.X, cal);
      const key = cal === 'none' ? 'uncalibrated' : cal;
      assert.deepEqual(binaryMetrics(test.y, p), ev.test[key]);
    }
    // calibrators were fitted on the validation split's uncalibrated scores
    const pVal = scoreRows(model, validation.X, 'none');
    assert.deepEqual(fitIsotonic(pVal, validation.y), model.isotonic);
    assert.deepEqual(fitPlatt(pVal, validation.y), model.platt);
    // coefficients are in standardised space: reproduce the linear predictor by hand
    const m = transformRows(model.preprocessor, test.X.slice(0, 3));
    const direct = predictProba({ intercept: model.coefficients.intercept, coefficients: model.coefficients.values }, m);
    assert.deepEqual(Array.from(scoreRows(model, test.X.slice(0, 3))), Array.from(direct));
  });

  it('pure noise gives AUC ≈ 0.5; fits are deterministic', () => {
    const train = syntheticSplit(11, 2000, false), validation = syntheticSplit(12, 1000, false), test = syntheticSplit(13, 2000, false);
    const a = fitBaseline({ train, validation, test, featureNames: NAMES });
    const auc = a.evaluation.test.uncalibrated.rocAuc as number;
    assert.ok(auc > 0.44 && auc < 0.56, `noise AUC ${auc}`);
    const b = fitBaseline({ train, validation, test, featureNames: NAMES });
    assert.equal(JSON.stringify(b), JSON.stringify(a));
  });

  it('balanced weights distort probabilities and calibration repairs them; focal loss works end to end', () => {
    const base = (s: number, n: number) => {
      const sp = syntheticSplit(s, n, true);
      // make positives rare: drop most of them deterministically
      const keep = sp.y.map((v, i) => v === 0 || i % 4 === 0);
      return { X: sp.X.filter((_, i) => keep[i]), y: sp.y.filter((_, i) => keep[i]) };
    };
    const train = base(21, 4000), validation = base(22, 3000), test = base(23, 3000);
    const { evaluation: ev } = fitBaseline({ train, validation, test, featureNames: NAMES, options: { classWeight: 'balanced' } });
    assert.ok(ev.test.platt.logLoss < ev.test.uncalibrated.logLoss - 0.05, `${ev.test.uncalibrated.logLoss} → ${ev.test.platt.logLoss}`);
    assert.ok(ev.test.isotonic.ece < ev.test.uncalibrated.ece);
    const focal = fitBaseline({ train, validation, test, featureNames: NAMES, options: { loss: 'focal', focalGamma: 2 } });
    assert.ok((focal.evaluation.test.uncalibrated.rocAuc as number) > 0.8);
    assert.equal(focal.model.loss, 'focal');
    assert.equal(focal.model.convergence.converged, true);
  });

  it('rejects a split with only one class, naming the split', () => {
    const train = syntheticSplit(31, 300, true), test = syntheticSplit(32, 300, true);
    const validation = { X: train.X.slice(0, 20), y: new Array(20).fill(0) };
    assert.throws(
      () => fitBaseline({ train, validation, test, featureNames: NAMES }),
      (e: unknown) => e instanceof ModelError && e.code === 'ONE_CLASS' && /split "validation" has only one class/.test(e.message),
    );
    assert.throws(
      () => fitBaseline({ train: { X: [], y: [] }, validation: train, test, featureNames: NAMES }),
      /split "train" has no rows/,
    );
    assert.throws(
      () => fitBaseline({ train, validation: { X: train.X.slice(0, 5), y: [0, 1, 0, 1] }, test, featureNames: NAMES }),
      /split "validation" has 5 rows of features but 4 labels/,
    );
  });
});
