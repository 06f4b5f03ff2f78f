import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type Row,
  balancedWeights,
  classBalance,
  randomOversample,
  randomUndersample,
  sampleWeights,
  smote,
} from '../src/training/imbalance.js';

/** 100 rows, 20 positives; ids r000…r099; two numeric features with a few nulls; a string column. */
function fixture(): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < 100; i++) {
    const y = i % 5 === 0 ? 1 : 0;
    rows.push({
      row_id: `r${String(i).padStart(3, '0')}`,
      user_id: `u${i % 37}`,
      dept: ['ops', 'sales', 'eng'][i % 3],
      a: i % 11 === 0 ? null : (i * 7) % 23,
      b: i % 13 === 0 ? null : ((i * 3) % 17) / 4 + (y ? 10 : 0),
      y,
    });
  }
  return rows;
}

/** A deterministic permutation of the rows (reversed, then interleaved). */
function shuffled(rows: Row[]): Row[] {
  const r = rows.slice().reverse();
  return [...r.filter((_, i) => i % 2 === 0), ...r.filter((_, i) => i % 2 === 1)];
}

const ids = (rows: Row[]) => rows.map((r) => r.row_id);
const count = (rows: Row[], y: number) => rows.filter((r) => r.y === y).length;

test('balancedWeights matches sklearn class_weight="balanced" on a hand example', () => {
  // sklearn: compute_class_weight('balanced', classes=[0, 1], y=[0,0,0,0,0,0,1,1]) == [8/12, 8/4]
  const labels = [0, 0, 0, 0, 0, 0, 1, 1];
  const w = balancedWeights(labels);
  assert.equal(w[0], 8 / (2 * 6));
  assert.equal(w[1], 2);
  const sw = sampleWeights(labels);
  assert.deepEqual(sw, [...Array(6).fill(8 / 12), 2, 2]);
  assert.ok(Math.abs(sw.reduce((a, b) => a + b, 0) - labels.length) < 1e-12, 'weights sum to n_samples');
  // One class present: n_classes = 1, so its weight is 1 (sklearn uses np.unique(y)); the absent class gets 1.
  assert.deepEqual(balancedWeights([0, 0, 0]), { 0: 1, 1: 1 });
  assert.deepEqual(balancedWeights([]), { 0: 1, 1: 1 });
  assert.throws(() => balancedWeights([0, 2]), /must be 0 or 1/);
});

test('classBalance counts classes and the positive rate', () => {
  assert.deepEqual(classBalance(fixture(), 'y'), { rows: 100, positives: 20, negatives: 80, positive_rate: 0.2 });
  assert.deepEqual(classBalance([], 'y'), { rows: 0, positives: 0, negatives: 0, positive_rate: null });
  assert.deepEqual(classBalance([{ y: null }, { y: 1 }, { y: false }], 'y'), { rows: 3, positives: 1, negatives: 1, positive_rate: 0.5 });
});

test('random under-sampling: exact counts, seeded, order independent of input order', () => {
  const rows = fixture();
  const a = randomUndersample(rows, { label: 'y', seed: 7, idColumn: 'row_id' });
  assert.equal(count(a, 1), 20);
  assert.equal(count(a, 0), 20);
  assert.deepEqual(ids(a), ids(a).slice().sort(), 'output sorted by id');
  assert.deepEqual(a, randomUndersample(shuffled(rows), { label: 'y', seed: 7, idColumn: 'row_id' }), 'same seed, any input order');
  const b = randomUndersample(rows, { label: 'y', seed: 8, idColumn: 'row_id' });
  assert.notDeepEqual(ids(a), ids(b), 'different seed, different sample');
  assert.equal(count(b, 0), 20);

  const half = randomUndersample(rows, { label: 'y', seed: 7, ratio: 0.5, idColumn: 'row_id' });
  assert.equal(count(half, 1), 20);
  assert.equal(count(half, 0), 40);
  // Already meets the ratio: nothing removed.
  assert.equal(randomUndersample(rows, { label: 'y', seed: 7, ratio: 0.1 }).length, 100);
  // Input rows are not mutated and not reused for unrelated rows.
  assert.deepEqual(rows, fixture());
  assert.throws(() => randomUndersample(rows, { label: 'y', seed: 1, ratio: 1.5 }), /ratio/);
  assert.throws(() => randomUndersample([{ y: 1 }, { y: null }], { label: 'y', seed: 1 }), /must be 0 or 1/);
});

test('random over-sampling: exact counts, duplicates marked, unique ids, seeded', () => {
  const rows = fixture();
  const a = randomOversample(rows, { label: 'y', seed: 3, idColumn: 'row_id' });
  assert.equal(count(a, 1), 80);
  assert.equal(count(a, 0), 80);
  assert.equal(a.filter((r) => r.synthetic === false).length, 100);
  assert.deepEqual(
    a.filter((r) => r.synthetic === false).map(({ synthetic, ...r }) => r),
    rows,
    'originals first, sorted by id, unchanged',
  );
  assert.equal(new Set(ids(a)).size, a.length, 'ids unique');
  const byId = new Map(rows.map((r) => [r.row_id, r]));
  for (const r of a.filter((x) => x.synthetic === true)) {
    const m = /^(r\d{3})#dup(\d+)$/.exec(String(r.row_id));
    assert.ok(m, String(r.row_id));
    const { row_id, synthetic, ...rest } = r;
    const { row_id: _baseId, ...base } = byId.get(m[1])!;
    assert.deepEqual(rest, base, 'a duplicate copies its base row');
    assert.equal(r.y, 1);
  }
  assert.deepEqual(a, randomOversample(shuffled(rows), { label: 'y', seed: 3, idColumn: 'row_id' }));
  assert.notDeepEqual(ids(a), ids(randomOversample(rows, { label: 'y', seed: 4, idColumn: 'row_id' })));
  const half = randomOversample(rows, { label: 'y', seed: 3, ratio: 0.5 });
  assert.equal(count(half, 1), 40);
  assert.equal(count(half, 0), 80);
});

/** Independent reference: k nearest minority neighbours of minority row i (median-imputed, min-max scaled). */
function referenceNeighbours(minority: Row[], cols: string[], k: number) {
  const med = cols.map((c) => {
    const v = minority.map((r) => r[c]).filter((x): x is number => typeof x === 'number').sort((p, q) => p - q);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  });
  const X = minority.map((r) => cols.map((c, j) => (r[c] === null ? med[j] : (r[c] as number))));
  const lo = cols.map((_, j) => Math.min(...X.map((r) => r[j])));
  const hi = cols.map((_, j) => Math.max(...X.map((r) => r[j])));
  const S = X.map((r) => r.map((v, j) => (hi[j] > lo[j] ? (v - lo[j]) / (hi[j] - lo[j]) : 0)));
  const nn = S.map((a, i) =>
    S.map((b, j) => ({ j, d: Math.hypot(...a.map((v, c) => v - b[c])) }))
      .filter((e) => e.j !== i)
      .sort((p, q) => p.d - q.d || p.j - q.j)
      .slice(0, k)
      .map((e) => e.j),
  );
  return { X, nn };
}

test('SMOTE: exact counts; every synthetic point lies on a segment to one of its k nearest minority neighbours', () => {
  const rows = fixture();
  const cols = ['a', 'b'];
  const k = 3;
  const out = smote(rows, { label: 'y', numericColumns: cols, k, seed: 11, idColumn: 'row_id' });
  assert.equal(count(out, 1), 80);
  assert.equal(count(out, 0), 80);
  assert.equal(new Set(ids(out)).size, out.length, 'ids unique');
  assert.deepEqual(out.slice(0, 100).map(({ synthetic, ...r }) => r), rows, 'originals first and unchanged');

  const minority = rows.filter((r) => r.y === 1);
  const { X, nn } = referenceNeighbours(minority, cols, k);
  const index = new Map(minority.map((r, i) => [r.row_id, i]));
  const synthetic = out.filter((r) => r.synthetic === true);
  assert.equal(synthetic.length, 60);
  let sawNullBase = false;
  for (const p of synthetic) {
    const m = /^(r\d{3})#smote(\d+)$/.exec(String(p.row_id));
    assert.ok(m, String(p.row_id));
    const i = index.get(m[1])!;
    const base = minority[i];
    // Non-numeric columns copied, null pattern of the base kept.
    assert.equal(p.dept, base.dept);
    assert.equal(p.user_id, base.user_id);
    assert.equal(p.y, 1);
    for (const c of cols) assert.equal(p[c] === null, base[c] === null, `null pattern of ${c}`);
    if (cols.some((c) => base[c] === null)) sawNullBase = true;

    const onSegment = nn[i].some((z) => {
      let u: number | null = null;
      return cols.every((c, j) => {
        if (p[c] === null) return true;
        const x = X[i][j];
        const dz = X[z][j] - x;
        const dp = (p[c] as number) - x;
        if (Math.abs(dz) < 1e-12) return Math.abs(dp) < 1e-9;
        const uj = dp / dz;
        if (uj < -1e-9 || uj > 1 + 1e-9) return false;
        if (u === null) u = uj;
        return Math.abs(u - uj) < 1e-9;
      });
    });
    assert.ok(onSegment, `${p.row_id} is not between its base and one of its ${k} nearest neighbours`);
  }
  assert.ok(sawNullBase, 'fixture exercises a base row with nulls');

  // Deterministic for a seed, independent of input order; a different seed gives different points.
  assert.deepEqual(out, smote(shuffled(rows), { label: 'y', numericColumns: cols, k, seed: 11, idColumn: 'row_id' }));
  const other = smote(rows, { label: 'y', numericColumns: cols, k, seed: 12, idColumn: 'row_id' });
  assert.notDeepEqual(other.slice(100), out.slice(100));

  const half = smote(rows, { label: 'y', numericColumns: cols, seed: 11, ratio: 0.5 });
  assert.equal(count(half, 1), 40);
  assert.equal(count(half, 0), 80);
});

test('SMOTE edge cases', () => {
  // Nothing to balance: one class absent, or the ratio already met.
  const allNeg: Row[] = [{ id: 'a', x: 1, y: 0 }, { id: 'b', x: 2, y: 0 }];
  assert.deepEqual(smote(allNeg, { label: 'y', numericColumns: ['x'], seed: 1 }), allNeg.map((r) => ({ ...r, synthetic: false })));
  // A single minority row cannot be interpolated.
  const one: Row[] = [{ x: 1, y: 1 }, { x: 2, y: 0 }, { x: 3, y: 0 }];
  assert.throws(() => smote(one, { label: 'y', numericColumns: ['x'], seed: 1 }), /at least 2 minority rows/);
  assert.throws(() => smote(fixture(), { label: 'y', numericColumns: ['dept'], seed: 1 }), /finite number or null/);
  assert.throws(() => smote(fixture(), { label: 'y', numericColumns: ['y'], seed: 1 }), /label column/);
  // The minority may be class 0; k is capped at n_min − 1.
  const inv: Row[] = [
    { id: 'n1', x: 0, y: 0 },
    { id: 'n2', x: 10, y: 0 },
    { id: 'p1', x: 5, y: 1 },
    { id: 'p2', x: 6, y: 1 },
    { id: 'p3', x: 7, y: 1 },
    { id: 'p4', x: 8, y: 1 },
  ];
  const out = smote(inv, { label: 'y', numericColumns: ['x'], seed: 5, idColumn: 'id' });
  assert.equal(count(out, 0), 4);
  for (const r of out.filter((r) => r.synthetic)) {
    assert.match(String(r.id), /^n[12]#smote\d$/);
    assert.ok((r.x as number) >= 0 && (r.x as number) <= 10);
  }
});
