// The epsilon ledger: every noisy release spends privacy budget from its dataset, recorded in the
// warehouse table privacy_ledger. Budgets add up by basic sequential composition (total ε = Σ ε_i,
// total δ = Σ δ_i): conservative, simple to audit. A release that would take a dataset over its
// budget is refused before anything is published.
//
// Order of work for a release: spend() first, then compute and publish. If publishing fails after
// spend(), the budget stays spent (the safe side); re-running with the same release_id does not spend
// it again.
import type { Engine } from '../engine/engine.js';
import { privacyLedger } from '../schema/canonical.js';
import type { Mechanism } from './dp.js';

export interface LedgerEntry {
  dataset: string;
  release_id: string;
  epsilon: number;
  /** 0 for pure ε-DP (Laplace). */
  delta: number;
  mechanism: Mechanism;
  description?: string | null;
  /** The --as-of of the release (logical time, so re-runs write the same row). */
  released_at: string;
}

export interface Budget {
  epsilon: number;
  /** Total δ allowed (default 0: only pure ε-DP releases). */
  delta?: number;
}

export interface BudgetStatus {
  dataset: string;
  epsilon_spent: number;
  delta_spent: number;
  releases: number;
}

export interface SpendResult extends BudgetStatus {
  /** True when this release_id was already on the ledger (nothing new was spent). */
  already_recorded: boolean;
  epsilon_remaining: number;
  delta_remaining: number;
}

/** Float slack when comparing sums of epsilons (0.1 + 0.2 must fit a budget of 0.3). */
const SLACK = 1e-9;

export class BudgetExceededError extends Error {
  constructor(
    readonly dataset: string,
    readonly spent: { epsilon: number; delta: number },
    readonly requested: { epsilon: number; delta: number },
    readonly budget: { epsilon: number; delta: number },
  ) {
    const which = spent.epsilon + requested.epsilon > budget.epsilon + SLACK ? 'epsilon' : 'delta';
    const fmt = (x: number) => String(Number(x.toPrecision(12)));
    super(
      `privacy budget exceeded for dataset ${JSON.stringify(dataset)}: ${which} spent ${fmt(spent[which])} + requested ${fmt(requested[which])} ` +
        `> budget ${fmt(budget[which])} (epsilon spent ${fmt(spent.epsilon)}, requested ${fmt(requested.epsilon)}, budget ${fmt(budget.epsilon)}; ` +
        `delta spent ${fmt(spent.delta)}, requested ${fmt(requested.delta)}, budget ${fmt(budget.delta)}). The release was refused and nothing was published; ` +
        `raise the budget deliberately, use a new dataset name for fresh data, or release less.`,
    );
    this.name = 'BudgetExceededError';
  }
}

export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

const T = privacyLedger.name;

export async function budgetStatus(engine: Engine, dataset: string): Promise<BudgetStatus> {
  const r = await engine.one<{ e: number | null; d: number | null; n: number }>(
    `SELECT sum(epsilon) AS e, sum(delta) AS d, count(*) AS n FROM ${T} WHERE dataset = $1`,
    [dataset],
  );
  return { dataset, epsilon_spent: Number(r?.e ?? 0), delta_spent: Number(r?.d ?? 0), releases: Number(r?.n ?? 0) };
}

export async function ledgerEntries(engine: Engine, dataset?: string): Promise<LedgerEntry[]> {
  const rows = await engine.all<LedgerEntry & Record<string, unknown>>(
    `SELECT dataset, release_id, epsilon, delta, mechanism, description, released_at FROM ${T}
     ${dataset === undefined ? '' : 'WHERE dataset = $1'} ORDER BY dataset, released_at, release_id`,
    dataset === undefined ? [] : [dataset],
  );
  return rows.map((r) => ({ ...r, epsilon: Number(r.epsilon), delta: Number(r.delta) }));
}

function check(entry: LedgerEntry, budget: Budget): void {
  if (!entry.dataset) throw new LedgerError('a ledger entry needs a dataset');
  if (!entry.release_id) throw new LedgerError('a ledger entry needs a release_id');
  if (!(Number.isFinite(entry.epsilon) && entry.epsilon > 0)) throw new LedgerError(`epsilon must be positive, got ${entry.epsilon}`);
  if (!(Number.isFinite(entry.delta) && entry.delta >= 0 && entry.delta < 1)) throw new LedgerError(`delta must be in [0, 1), got ${entry.delta}`);
  if (!(Number.isFinite(budget.epsilon) && budget.epsilon > 0)) throw new LedgerError(`the epsilon budget must be positive, got ${budget.epsilon}`);
  const bd = budget.delta ?? 0;
  if (!(Number.isFinite(bd) && bd >= 0 && bd < 1)) throw new LedgerError(`the delta budget must be in [0, 1), got ${bd}`);
}

/**
 * Records a release against its dataset's budget, in one transaction. Refuses with
 * BudgetExceededError when the dataset's total would exceed the budget. Idempotent: the same
 * (dataset, release_id) with the same ε, δ and mechanism is recorded once; with different values it is
 * an error (a release id names one release).
 */
export async function spend(engine: Engine, entry: LedgerEntry, budget: Budget): Promise<SpendResult> {
  check(entry, budget);
  const bd = budget.delta ?? 0;
  return engine.transaction(async () => {
    const existing = await engine.one<{ epsilon: number; delta: number; mechanism: string }>(
      `SELECT epsilon, delta, mechanism FROM ${T} WHERE dataset = $1 AND release_id = $2`,
      [entry.dataset, entry.release_id],
    );
    const before = await budgetStatus(engine, entry.dataset);
    if (existing) {
      if (Math.abs(Number(existing.epsilon) - entry.epsilon) > SLACK || Math.abs(Number(existing.delta) - entry.delta) > SLACK * 1e-6 || existing.mechanism !== entry.mechanism) {
        throw new LedgerError(
          `release ${JSON.stringify(entry.release_id)} of dataset ${JSON.stringify(entry.dataset)} is already on the ledger with ` +
            `epsilon ${existing.epsilon}, delta ${existing.delta}, ${existing.mechanism}; a different release needs a new release id`,
        );
      }
      return { ...before, already_recorded: true, epsilon_remaining: budget.epsilon - before.epsilon_spent, delta_remaining: bd - before.delta_spent };
    }
    if (before.epsilon_spent + entry.epsilon > budget.epsilon + SLACK || before.delta_spent + entry.delta > bd + SLACK * 1e-6) {
      throw new BudgetExceededError(
        entry.dataset,
        { epsilon: before.epsilon_spent, delta: before.delta_spent },
        { epsilon: entry.epsilon, delta: entry.delta },
        { epsilon: budget.epsilon, delta: bd },
      );
    }
    await engine.run(
      `INSERT INTO ${T} (dataset, release_id, epsilon, delta, mechanism, description, released_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [entry.dataset, entry.release_id, entry.epsilon, entry.delta, entry.mechanism, entry.description ?? null, entry.released_at],
    );
    const after = { ...before, epsilon_spent: before.epsilon_spent + entry.epsilon, delta_spent: before.delta_spent + entry.delta, releases: before.releases + 1 };
    return { ...after, already_recorded: false, epsilon_remaining: budget.epsilon - after.epsilon_spent, delta_remaining: bd - after.delta_spent };
  });
}
