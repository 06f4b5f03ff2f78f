import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { aggregateWithK, KAnonymityError, type QuasiIdentifier } from '../src/privacy/kanon.js';
import { BudgetExceededError, budgetStatus } from '../src/privacy/ledger.js';
import { seededRng } from '../src/privacy/rng.js';

// 300 people: departments of very different sizes, five role levels, two courses each (600 rows).
const PEOPLE_SQL = `
  SELECT 'u' || i AS person,
    CASE WHEN i % 10 < 6 THEN 'Sales' WHEN i % 10 < 9 THEN 'Engineering' ELSE 'Legal' END AS department,
    'L' || (1 + (i // 10) % 5) AS role_level,
    CASE WHEN i = 299 THEN 'CEO-Office' ELSE NULL END AS rare,
    (i % 3 = 0)::INTEGER AS completed,
    (i % 17) * 1.0 AS hours
  FROM range(300) t(i)`;
const ROWS_SQL = `SELECT p.*, c.course FROM (${PEOPLE_SQL}) p, (VALUES ('C1'), ('C2')) c(course)`;

const ROLE_HIERARCHY = [[['L1', 'L2'], ['L3', 'L4', 'L5']]] as string[][][];

async function engine() {
  const e = await DuckDBEngine.open(':memory:');
  await ensureWarehouse(e);
  await e.run(`CREATE TABLE people AS ${PEOPLE_SQL}`);
  return e;
}

/** Independent check in JS: the generalised value of a raw value at a level. */
function generalise(q: QuasiIdentifier, level: number, v: unknown): string | null {
  const levels = (q.hierarchy ? (Array.isArray(q.hierarchy[0]?.[0]) ? q.hierarchy : [q.hierarchy]) : []) as string[][][];
  if (level >= levels.length + 1) return '*';
  const s = v === null || v === undefined ? null : String(v);
  if (level === 0 || s === null) return s;
  const bin = levels[level - 1].find((b) => b.includes(s));
  return bin ? bin.join('|') : s;
}

test('k-anonymity: no published group is smaller than k, checked against the raw rows', async () => {
  const e = await engine();
  try {
    const raw = await e.all(`SELECT * FROM (${ROWS_SQL})`);
    for (const k of [5, 20, 40]) {
      const qis: QuasiIdentifier[] = [{ column: 'department' }, { column: 'role_level', hierarchy: ROLE_HIERARCHY }, { column: 'course' }];
      const r = await aggregateWithK(e, {
        sql: ROWS_SQL,
        quasiIdentifiers: qis,
        measures: [{ name: 'completion_rate', expr: 'avg(completed)' }, { name: 'hours', sum: { column: 'hours', lower: 0, upper: 10 } }],
        k,
        personColumn: 'person',
        maxSuppression: 0.02,
      });
      assert.ok(r.rows.length > 0);
      assert.equal(r.people, 300);
      for (const row of r.rows) {
        assert.ok(Number(row.n) >= k, `group ${JSON.stringify(row)} has n < ${k}`);
        const members = new Set(
          raw.filter((x) => qis.every((q) => generalise(q, r.generalisation_levels[q.column], x[q.column]) === row[q.column])).map((x) => x.person),
        );
        assert.equal(members.size, Number(row.n), `recounted ${JSON.stringify(row)}`);
      }
      assert.ok(r.suppressed_people <= Math.floor(0.02 * 300), `k=${k}: suppressed ${r.suppressed_people}`);
      assert.deepEqual(Object.keys(r.rows[0]), ['department', 'role_level', 'course', 'n', 'completion_rate', 'hours']);
    }
  } finally {
    await e.close();
  }
});

test('k-anonymity: generalises level by level, suppresses what is left and reports it', async () => {
  const e = await engine();
  try {
    // Sales 180, Engineering 90, Legal 30 people, spread evenly over L1..L5: with k = 25 the cells of
    // Engineering (18) and Legal (6) are too small.
    const strict = await aggregateWithK(e, {
      sql: 'SELECT * FROM people',
      quasiIdentifiers: [{ column: 'department' }, { column: 'role_level', hierarchy: ROLE_HIERARCHY }],
      measures: [{ name: 'completion_rate', expr: 'avg(completed)' }],
      k: 25,
      personColumn: 'person',
      maxSuppression: 0,
    });
    // Binning role levels would still leave Legal's bins (12, 18) under 25; dropping department does not.
    assert.equal(strict.suppressed_people, 0);
    assert.deepEqual(strict.generalisation_levels, { department: 1, role_level: 0 });
    assert.deepEqual(strict.steps.map((s) => s.suppressed_people), [120, 0]);
    assert.ok(strict.rows.every((r) => r.department === '*'));
    assert.equal(strict.rows.reduce((a, r) => a + Number(r.n), 0), 300);
    for (const row of strict.rows) assert.ok(Number(row.n) >= 25);

    // k = 10: binning role levels and dropping department both suppress nobody; the bins keep more groups.
    const binned = await aggregateWithK(e, {
      sql: 'SELECT * FROM people',
      quasiIdentifiers: [{ column: 'department' }, { column: 'role_level', hierarchy: ROLE_HIERARCHY }],
      measures: [],
      k: 10,
      personColumn: 'person',
      maxSuppression: 0,
    });
    assert.deepEqual(binned.generalisation_levels, { department: 0, role_level: 1 });
    assert.deepEqual(binned.rows.filter((r) => r.department === 'Legal'), [
      { department: 'Legal', role_level: 'L1|L2', n: 12 },
      { department: 'Legal', role_level: 'L3|L4|L5', n: 18 },
    ]);

    // Allowing 45% suppression: nothing is generalised; Engineering and Legal are left out.
    const loose = await aggregateWithK(e, {
      sql: 'SELECT * FROM people',
      quasiIdentifiers: [{ column: 'department' }, { column: 'role_level', hierarchy: ROLE_HIERARCHY }],
      measures: [{ name: 'completion_rate', expr: 'avg(completed)' }],
      k: 25,
      personColumn: 'person',
      maxSuppression: 0.45,
    });
    assert.deepEqual(loose.generalisation_levels, { department: 0, role_level: 0 });
    assert.equal(loose.suppressed_people, 120);
    assert.equal(loose.suppressed_groups, 10);
    assert.equal(loose.suppressed_rows, 120);
    assert.deepEqual([...new Set(loose.rows.map((r) => r.department))], ['Sales']);
    assert.equal(loose.rows.reduce((a, r) => a + Number(r.n), 0) + loose.suppressed_people, 300);

    // A one-person attribute value goes to '*' (no hierarchy) rather than being published.
    const rare = await aggregateWithK(e, { sql: 'SELECT * FROM people', quasiIdentifiers: [{ column: 'rare' }], measures: [], k: 2, maxSuppression: 0 });
    assert.equal(rare.generalisation_levels.rare, 1);
    assert.deepEqual(rare.rows, [{ rare: '*', n: 300 }]);
    const rareSup = await aggregateWithK(e, { sql: 'SELECT * FROM people', quasiIdentifiers: [{ column: 'rare' }], measures: [], k: 2 });
    assert.deepEqual(rareSup.rows, [{ rare: null, n: 299 }]);
    assert.equal(rareSup.suppressed_people, 1);
    assert.equal(rareSup.suppressed_groups, 1);

    await assert.rejects(aggregateWithK(e, { sql: 'SELECT * FROM people', quasiIdentifiers: [{ column: 'nope' }], measures: [], k: 2 }), KAnonymityError);
    await assert.rejects(aggregateWithK(e, { sql: 'SELECT * FROM people', quasiIdentifiers: [{ column: 'x; DROP TABLE people' }], measures: [], k: 2 }), /invalid/);
  } finally {
    await e.close();
  }
});

test('k-anonymity with DP: noisy counts and sums, contributions capped, release recorded and refused over budget', async () => {
  const e = await engine();
  try {
    const base = {
      sql: ROWS_SQL,
      quasiIdentifiers: [{ column: 'department' }],
      measures: [{ name: 'hours', sum: { column: 'hours', lower: 0, upper: 10 } }],
      k: 10,
      personColumn: 'person',
    };
    const exact = await aggregateWithK(e, base);
    const budget = { epsilon: 1 };
    const r = await aggregateWithK(e, {
      ...base,
      dp: { epsilon: 0.5, mechanism: 'laplace', maxContributionsPerUser: 1, rng: seededRng('kanon'), ledger: { dataset: 'export', release_id: 'r1', released_at: '2024-05-01', budget } },
    });
    assert.equal(r.dp!.count_noise_scale, 1 / 0.25); // ε split between the count and one sum
    assert.equal(r.dp!.sum_noise_scales.hours, 10 / 0.25);
    assert.equal(r.dp!.ledger!.epsilon_spent, 0.5);
    assert.equal(r.rows.length, exact.rows.length);
    // the cap keeps one row per person, so exact counts are people; noisy ones are near them
    for (const [i, row] of r.rows.entries()) {
      assert.equal(row.department, exact.rows[i].department);
      assert.ok(Number.isInteger(row.n));
      assert.ok(Math.abs(Number(row.n) - Number(exact.rows[i].n)) < 60);
    }
    // same release id: idempotent on the ledger
    await aggregateWithK(e, { ...base, dp: { epsilon: 0.5, mechanism: 'laplace', rng: seededRng('kanon'), ledger: { dataset: 'export', release_id: 'r1', released_at: '2024-05-01', budget } } });
    assert.equal((await budgetStatus(e, 'export')).releases, 1);
    await aggregateWithK(e, { ...base, dp: { epsilon: 0.5, mechanism: 'laplace', rng: seededRng('k2'), ledger: { dataset: 'export', release_id: 'r2', released_at: '2024-05-02', budget } } });
    await assert.rejects(
      aggregateWithK(e, { ...base, dp: { epsilon: 0.1, mechanism: 'laplace', rng: seededRng('k3'), ledger: { dataset: 'export', release_id: 'r3', released_at: '2024-05-03', budget } } }),
      BudgetExceededError,
    );
    assert.equal((await budgetStatus(e, 'export')).releases, 2);
    // Gaussian needs delta; Laplace refuses one
    await assert.rejects(aggregateWithK(e, { ...base, dp: { epsilon: 0.5, mechanism: 'gaussian', rng: seededRng('g') } }), /delta/);
    const g = await aggregateWithK(e, { ...base, dp: { epsilon: 0.5, delta: 1e-6, mechanism: 'gaussian', maxContributionsPerUser: 2, rng: seededRng('g') } });
    assert.equal(g.dp!.max_contributions_per_user, 2);
    assert.ok(g.dp!.count_noise_scale > 0);
  } finally {
    await e.close();
  }
});

test('k-anonymity: sensitive HR columns are refused unless allowed by name', async () => {
  const e = await engine();
  try {
    await e.run(`CREATE TABLE hr AS SELECT person, department, CASE WHEN completed = 1 THEN 'B' ELSE 'C' END AS salary_band FROM people`);
    const spec = { sql: 'SELECT person, department, salary_band FROM hr', quasiIdentifiers: [{ column: 'department' }], measures: [], k: 5, personColumn: 'person' };
    await assert.rejects(aggregateWithK(e, spec), /sensitive column\(s\) salary_band/);
    await assert.rejects(aggregateWithK(e, { ...spec, sql: 'SELECT person, department FROM hr', measures: [{ name: 'b', expr: "count(*) FILTER (WHERE salary_band = 'B')" }] }), /salary_band/);
    const ok = await aggregateWithK(e, { ...spec, allowSensitive: ['salary_band'] });
    assert.equal(ok.rows.length, 3);
  } finally {
    await e.close();
  }
});
