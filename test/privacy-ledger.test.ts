import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { ensureWarehouse } from '../src/schema/warehouse.js';
import { spend, budgetStatus, ledgerEntries, BudgetExceededError, LedgerError, type LedgerEntry } from '../src/privacy/ledger.js';

async function warehouse() {
  const e = await DuckDBEngine.open(':memory:');
  await ensureWarehouse(e);
  return e;
}

const entry = (release_id: string, epsilon: number, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  dataset: 'completions', release_id, epsilon, delta: 0, mechanism: 'laplace', description: `release ${release_id}`, released_at: '2024-05-01', ...extra,
});

test('ledger: spends add up; a release over budget is refused and nothing is recorded', async () => {
  const e = await warehouse();
  try {
    const budget = { epsilon: 1 };
    assert.equal((await spend(e, entry('r1', 0.4), budget)).epsilon_spent, 0.4);
    const r2 = await spend(e, entry('r2', 0.5), budget);
    assert.ok(Math.abs(r2.epsilon_remaining - 0.1) < 1e-12);
    let err: unknown;
    try {
      await spend(e, entry('r3', 0.2), budget);
    } catch (x) {
      err = x;
    }
    assert.ok(err instanceof BudgetExceededError);
    assert.match((err as Error).message, /dataset "completions": epsilon spent 0\.9 \+ requested 0\.2 > budget 1/);
    assert.deepEqual((err as BudgetExceededError).spent, { epsilon: 0.9, delta: 0 });
    assert.deepEqual((err as BudgetExceededError).requested, { epsilon: 0.2, delta: 0 });
    assert.deepEqual((err as BudgetExceededError).budget, { epsilon: 1, delta: 0 });
    assert.equal((await budgetStatus(e, 'completions')).releases, 2, 'the refused release is not on the ledger');
    // exactly filling the budget is allowed (float slack: 0.9 + 0.1)
    await spend(e, entry('r3', 0.1), budget);
    await assert.rejects(spend(e, entry('r4', 1e-6), budget), BudgetExceededError);
    // other datasets have their own budget
    await spend(e, entry('r1', 1, { dataset: 'other' }), budget);
  } finally {
    await e.close();
  }
});

test('ledger: the same release id is recorded once (idempotent re-runs); a changed one is an error', async () => {
  const e = await warehouse();
  try {
    const budget = { epsilon: 1 };
    await spend(e, entry('r1', 0.6), budget);
    const again = await spend(e, entry('r1', 0.6), budget);
    assert.equal(again.already_recorded, true);
    assert.equal(again.epsilon_spent, 0.6);
    assert.equal((await ledgerEntries(e, 'completions')).length, 1);
    await assert.rejects(spend(e, entry('r1', 0.3), budget), LedgerError);
  } finally {
    await e.close();
  }
});

test('ledger: delta is budgeted too; pure-DP budgets refuse any delta', async () => {
  const e = await warehouse();
  try {
    await assert.rejects(spend(e, entry('g1', 0.5, { mechanism: 'gaussian', delta: 1e-6 }), { epsilon: 1 }), (x: Error) => x instanceof BudgetExceededError && /delta spent 0 \+ requested 0\.000001 > budget 0/.test(x.message));
    const b = { epsilon: 2, delta: 2e-6 };
    await spend(e, entry('g1', 0.5, { mechanism: 'gaussian', delta: 1e-6 }), b);
    await spend(e, entry('g2', 0.5, { mechanism: 'gaussian', delta: 1e-6 }), b);
    await assert.rejects(spend(e, entry('g3', 0.5, { mechanism: 'gaussian', delta: 1e-6 }), b), /delta spent/);
    await spend(e, entry('l1', 0.5), b);
    const s = await budgetStatus(e, 'completions');
    assert.equal(s.releases, 3);
    assert.ok(Math.abs(s.epsilon_spent - 1.5) < 1e-12);
    await assert.rejects(spend(e, entry('bad', -1), b), LedgerError);
  } finally {
    await e.close();
  }
});
