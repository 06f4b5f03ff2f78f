// k-anonymity for aggregate exports: grouped statistics (e.g. completion rate by department, role
// level and course) in which every published group holds at least k people.
//
// Input: a SELECT of per-person rows (one or more rows per person) with quasi-identifier columns (the
// attributes someone could know about a person: department, role level, location, …) and the
// columns the measures read. Grouping is done in DuckDB; TypeScript only drives the search.
//
// The rule (deterministic):
//   1. Start with every quasi-identifier at level 0 (its own values).
//   2. Group, and count the people in each group (distinct `personColumn`, or rows when no person
//      column is given). People in groups smaller than k would have to be suppressed.
//   3. While more than `maxSuppression` (a fraction of all people, default 0.05) would be suppressed
//      and some quasi-identifier can still be generalised, generalise ONE quasi-identifier by ONE
//      level: the one whose step leaves the fewest people suppressed; ties go to the step that keeps
//      more groups (more detail), then to the quasi-identifier listed last (so the first-listed,
//      usually the most important, stays detailed longest).
//   4. Suppress (leave out) every group still smaller than k, and report how many groups, rows and
//      people that was.
// Levels of a quasi-identifier: 0 = its values; 1..H = the configured hierarchy (each level a list of
// bins of original values, e.g. role_level [["L1","L2"],["L3","L4","L5"]] publishes "L1|L2" and
// "L3|L4|L5"; values in no bin stay as they are); H+1 = "*" (the attribute is not published at all).
//
// Differential privacy (optional): group counts and `sum` measures get Laplace or Gaussian noise, with
// each person's rows capped at `maxContributionsPerUser` (so a person changes at most that many
// counts by 1, and sums by at most that many times max(|lower|, |upper|)). ε and δ are split evenly
// between the count and each sum measure; the release is recorded on the epsilon ledger first and
// refused when it would exceed the dataset's budget.
//
// Limits, stated plainly: which groups are published and how far attributes are generalised is
// decided on the true counts, so the group list is protected by k-anonymity, not by DP; `expr`
// measures (e.g. avg(completed)) are exact; k-anonymity does not stop attribute disclosure when all
// people in a group share a value (e.g. every one failed), nor differencing against other releases
// of overlapping data (publish totals elsewhere with care).
import type { Engine, Row } from '../engine/engine.js';
import { assertIdentifier } from '../engine/dialects/dialect.js';
import { addNoise, releaseCount, laplaceScale, gaussianSigma, DpError, type Mechanism } from './dp.js';
import type { Rng } from './rng.js';
import { spend, type Budget, type SpendResult } from './ledger.js';
import { ALL_TABLES } from '../schema/canonical.js';

/** Columns of sensitivity 'sensitive' or 'raw' (HR fields, raw source text) named in `sql` and not allowed by name. */
export function sensitiveColumnsIn(sql: string, allowed: readonly string[] = []): string[] {
  const names = new Set<string>();
  for (const t of ALL_TABLES) for (const c of t.columns) if ((c.sensitivity === 'sensitive' || c.sensitivity === 'raw') && !allowed.includes(c.name)) names.add(c.name);
  return [...names].filter((n) => new RegExp(`(^|[^A-Za-z0-9_])${n}($|[^A-Za-z0-9_])`, 'i').test(sql)).sort();
}

export interface QuasiIdentifier {
  column: string;
  /**
   * Generalisation levels, coarsest last, each a list of bins of original values. One level may be
   * given directly (string[][]) or several (string[][][]). "*" (not published) is always the last level.
   */
  hierarchy?: string[][] | string[][][];
}

export type Measure =
  /** An exact SQL aggregate over the input columns, e.g. `avg(completed)`. */
  | { name: string; expr: string }
  /** A sum of `column` clipped into [lower, upper]; noised when DP is on. */
  | { name: string; sum: { column: string; lower: number; upper: number } };

export interface DpOptions {
  epsilon: number;
  delta?: number;
  mechanism: Mechanism;
  /** Rows kept per person (default 1); the rest are dropped before aggregation. */
  maxContributionsPerUser?: number;
  /** Use cryptoRng() for real releases; seededRng only for tests and dry runs. */
  rng: Rng;
  /** Record the release on the epsilon ledger (refused when over budget). */
  ledger?: { dataset: string; release_id: string; released_at: string; description?: string; budget: Budget };
}

export interface AggregateOptions {
  /** A SELECT of per-person rows with the quasi-identifier columns and the measure columns. */
  sql: string;
  quasiIdentifiers: QuasiIdentifier[];
  measures: Measure[];
  k: number;
  /** Column identifying the person (distinct people are counted); without it every row is a person. */
  personColumn?: string;
  /** Fraction of people that may be suppressed before generalising further (default 0.05). */
  maxSuppression?: number;
  /** Sensitive columns (e.g. salary_band) the query may read; others are refused (column policy). */
  allowSensitive?: string[];
  /** Name of the published group-size column (default "n"). */
  countName?: string;
  dp?: DpOptions;
}

export interface AggregateResult {
  /** Published groups: the quasi-identifiers (generalised, as text), the count, then the measures. */
  rows: Row[];
  k: number;
  people: number;
  published_groups: number;
  suppressed_groups: number;
  suppressed_rows: number;
  suppressed_people: number;
  /** Level chosen per quasi-identifier: 0 = original values … max = "*". */
  generalisation_levels: Record<string, number>;
  /** The top level ("*") of each quasi-identifier. */
  generalisation_max: Record<string, number>;
  /** The generalisation steps taken, with the people they would leave suppressed. */
  steps: Array<{ levels: Record<string, number>; suppressed_people: number }>;
  dp?: {
    epsilon: number;
    delta: number;
    mechanism: Mechanism;
    max_contributions_per_user: number;
    count_noise_scale: number;
    sum_noise_scales: Record<string, number>;
    ledger?: SpendResult;
  };
}

export class KAnonymityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KAnonymityError';
  }
}

const BASE = '__kanon_base';
const PERSON = '__kanon_person';

function levelsOf(q: QuasiIdentifier): string[][][] {
  const h = q.hierarchy;
  if (!h || h.length === 0) return [];
  const multi = Array.isArray((h as unknown[])[0]) && Array.isArray((h as unknown[][])[0][0]);
  const levels = (multi ? h : [h]) as string[][][];
  levels.forEach((bins, i) => {
    const seen = new Set<string>();
    for (const bin of bins) {
      if (!Array.isArray(bin) || bin.length === 0) throw new KAnonymityError(`hierarchy of ${q.column}, level ${i + 1}: each bin must be a non-empty list of values`);
      for (const v of bin) {
        if (seen.has(String(v))) throw new KAnonymityError(`hierarchy of ${q.column}, level ${i + 1}: the value ${JSON.stringify(v)} is in two bins`);
        seen.add(String(v));
      }
    }
  });
  return levels;
}

export async function aggregateWithK(engine: Engine, opts: AggregateOptions): Promise<AggregateResult> {
  const d = engine.dialect;
  const id = (s: string) => d.quoteIdent(s);
  const lit = (s: string) => d.quoteString(s);
  if (!(Number.isInteger(opts.k) && opts.k >= 1)) throw new KAnonymityError(`k must be a whole number ≥ 1, got ${opts.k}`);
  if (opts.quasiIdentifiers.length === 0) throw new KAnonymityError('give at least one quasi-identifier column');
  const maxSuppression = opts.maxSuppression ?? 0.05;
  if (!(maxSuppression >= 0 && maxSuppression <= 1)) throw new KAnonymityError(`maxSuppression is a fraction between 0 and 1, got ${maxSuppression}`);
  const countName = assertIdentifier(opts.countName ?? 'n', 'count column name');
  const qis = opts.quasiIdentifiers.map((q) => ({ column: assertIdentifier(q.column, 'quasi-identifier column'), levels: levelsOf(q) }));
  const names = new Set<string>([countName]);
  for (const q of qis) {
    if (names.has(q.column)) throw new KAnonymityError(`the column ${q.column} is listed twice`);
    names.add(q.column);
  }
  for (const m of opts.measures) {
    assertIdentifier(m.name, 'measure name');
    if (names.has(m.name)) throw new KAnonymityError(`the measure name ${m.name} clashes with another output column`);
    names.add(m.name);
    if ('sum' in m) {
      assertIdentifier(m.sum.column, 'measure column');
      if (!(Number.isFinite(m.sum.lower) && Number.isFinite(m.sum.upper) && m.sum.lower <= m.sum.upper)) throw new KAnonymityError(`measure ${m.name}: need finite bounds with lower ≤ upper`);
    }
  }
  const textToCheck = [opts.sql, ...opts.measures.map((m) => ('expr' in m ? m.expr : ''))].join('\n');
  const refused = sensitiveColumnsIn(textToCheck, opts.allowSensitive);
  if (refused.length) {
    throw new KAnonymityError(`the export reads sensitive column(s) ${refused.join(', ')}; they are excluded from outputs unless allowed by name (allow_sensitive)`);
  }
  const dp = opts.dp;
  const maxContrib = dp?.maxContributionsPerUser ?? 1;
  if (dp && !(Number.isInteger(maxContrib) && maxContrib >= 1)) throw new DpError(`maxContributionsPerUser must be a whole number ≥ 1, got ${maxContrib}`);

  // 1. Materialise the input once, with a person column; cap rows per person when DP is on.
  const person = opts.personColumn ? `CAST(src.${id(assertIdentifier(opts.personColumn, 'person column'))} AS VARCHAR)` : `CAST(row_number() OVER () AS VARCHAR)`;
  await engine.run(`DROP TABLE IF EXISTS ${BASE}`);
  const sqlText = opts.sql.trim().replace(/;+\s*$/, '');
  if (dp && opts.personColumn) {
    await engine.run(`CREATE TEMP TABLE ${BASE} AS
      SELECT * EXCLUDE (__kanon_rn) FROM (
        SELECT src.*, ${person} AS ${PERSON}, row_number() OVER (PARTITION BY ${person} ORDER BY CAST(src AS VARCHAR)) AS __kanon_rn
        FROM (${sqlText}) src)
      WHERE __kanon_rn <= ${maxContrib}`);
  } else {
    await engine.run(`CREATE TEMP TABLE ${BASE} AS SELECT src.*, ${person} AS ${PERSON} FROM (${sqlText}) src`);
  }
  try {
    const cols = new Set((await engine.all<{ column_name: string }>(`SELECT column_name FROM (DESCRIBE ${BASE})`)).map((r) => r.column_name));
    for (const q of qis) if (!cols.has(q.column)) throw new KAnonymityError(`the query has no column ${q.column} (quasi-identifier)`);
    for (const m of opts.measures) if ('sum' in m && !cols.has(m.sum.column)) throw new KAnonymityError(`the query has no column ${m.sum.column} (measure ${m.name})`);

    const people = Number((await engine.one<{ n: number }>(`SELECT count(DISTINCT ${PERSON}) AS n FROM ${BASE}`))?.n ?? 0);
    const top = qis.map((q) => q.levels.length + 1);
    const gen = (qi: number, level: number): string => {
      const q = qis[qi];
      const raw = `CAST(${id(q.column)} AS VARCHAR)`;
      if (level === 0) return raw;
      if (level >= top[qi]) return `'*'`;
      const bins = q.levels[level - 1];
      const whens = bins.map((bin) => `WHEN ${raw} IN (${bin.map((v) => lit(String(v))).join(', ')}) THEN ${lit(bin.map(String).join('|'))}`);
      return `CASE ${whens.join(' ')} ELSE ${raw} END`;
    };
    const qAlias = (i: number) => `__q${i}`;
    const selectGen = (levels: number[]) => levels.map((l, i) => `${gen(i, l)} AS ${qAlias(i)}`).join(', ');
    const partition = qis.map((_, i) => qAlias(i)).join(', ');

    const evaluate = async (levels: number[]) => {
      const r = await engine.one<{ sup_people: number; sup_rows: number; sup_groups: number; groups: number }>(`
        WITH g AS (SELECT ${PERSON}, ${selectGen(levels)} FROM ${BASE}),
        sizes AS (SELECT ${partition}, count(DISTINCT ${PERSON}) AS n FROM g GROUP BY ALL),
        w AS (SELECT ${PERSON}, count(DISTINCT ${PERSON}) OVER (PARTITION BY ${partition}) AS n FROM g)
        SELECT (SELECT count(DISTINCT ${PERSON}) FROM w WHERE n < ${opts.k}) AS sup_people,
               (SELECT count(*) FROM w WHERE n < ${opts.k}) AS sup_rows,
               (SELECT count(*) FROM sizes WHERE n < ${opts.k}) AS sup_groups,
               (SELECT count(*) FROM sizes) AS groups`);
      return { supPeople: Number(r!.sup_people), supRows: Number(r!.sup_rows), supGroups: Number(r!.sup_groups), groups: Number(r!.groups) };
    };
    const asRecord = (levels: number[]) => Object.fromEntries(qis.map((q, i) => [q.column, levels[i]]));

    // 2–3. Greedy generalisation, one level of one quasi-identifier per step.
    let levels = qis.map(() => 0);
    let cur = await evaluate(levels);
    const steps = [{ levels: asRecord(levels), suppressed_people: cur.supPeople }];
    const allowed = Math.floor(maxSuppression * people + 1e-9);
    while (cur.supPeople > allowed) {
      let best: { levels: number[]; ev: typeof cur } | undefined;
      for (let i = qis.length - 1; i >= 0; i--) {
        if (levels[i] >= top[i]) continue;
        const cand = levels.slice();
        cand[i]++;
        const ev = await evaluate(cand);
        if (!best || ev.supPeople < best.ev.supPeople || (ev.supPeople === best.ev.supPeople && ev.groups - ev.supGroups > best.ev.groups - best.ev.supGroups)) {
          best = { levels: cand, ev };
        }
      }
      if (!best) break;
      levels = best.levels;
      cur = best.ev;
      steps.push({ levels: asRecord(levels), suppressed_people: cur.supPeople });
    }

    // 4. Aggregate the chosen generalisation in SQL and keep groups of at least k people.
    const measureSql = opts.measures.map((m) =>
      'sum' in m
        ? `sum(least(greatest(CAST(${id(m.sum.column)} AS DOUBLE), ${Number(m.sum.lower)}), ${Number(m.sum.upper)})) AS ${id(m.name)}`
        : `${m.expr} AS ${id(m.name)}`,
    );
    const outCols = qis.map((q, i) => `${qAlias(i)} AS ${id(q.column)}`);
    let rows = await engine.all(`
      SELECT ${[...outCols, `count(DISTINCT ${PERSON}) AS ${id(countName)}`, ...measureSql].join(', ')}
      FROM (SELECT *, ${selectGen(levels)} FROM ${BASE})
      GROUP BY ${partition}
      HAVING count(DISTINCT ${PERSON}) >= ${opts.k}
      ORDER BY ${qis.map((_, i) => `${qAlias(i)} NULLS LAST`).join(', ')}`);

    const result: AggregateResult = {
      rows,
      k: opts.k,
      people,
      published_groups: rows.length,
      suppressed_groups: cur.supGroups,
      suppressed_rows: cur.supRows,
      suppressed_people: cur.supPeople,
      generalisation_levels: asRecord(levels),
      generalisation_max: asRecord(top),
      steps,
    };

    // Optional DP noise on counts and sums (ledger first: a refused release publishes nothing).
    if (dp) {
      const sums = opts.measures.filter((m): m is Extract<Measure, { sum: unknown }> => 'sum' in m);
      const parts = 1 + sums.length;
      const delta = dp.delta ?? 0;
      const part = { epsilon: dp.epsilon / parts, delta: delta / parts, mechanism: dp.mechanism };
      // Noise scales (this also validates the parameters) before any budget is spent.
      const scale = (sens: number) => {
        if (dp.mechanism === 'laplace') {
          if (delta !== 0) throw new DpError(`the Laplace mechanism is pure epsilon-DP: set delta to 0 (got ${delta})`);
          return laplaceScale(part.epsilon, sens);
        }
        if (dp.mechanism === 'gaussian') return gaussianSigma(part.epsilon, part.delta, sens);
        throw new DpError(`unknown mechanism ${JSON.stringify(dp.mechanism)}: use laplace or gaussian`);
      };
      const countScale = scale(maxContrib);
      const sumScales: Record<string, number> = {};
      for (const m of sums) sumScales[m.name] = scale(maxContrib * Math.max(Math.abs(m.sum.lower), Math.abs(m.sum.upper)));
      let ledger: SpendResult | undefined;
      if (dp.ledger) {
        ledger = await spend(
          engine,
          { dataset: dp.ledger.dataset, release_id: dp.ledger.release_id, epsilon: dp.epsilon, delta, mechanism: dp.mechanism, description: dp.ledger.description ?? `aggregate export by ${qis.map((q) => q.column).join(', ')} (k=${opts.k})`, released_at: dp.ledger.released_at },
          dp.ledger.budget,
        );
      }
      rows = rows.map((r) => {
        const out: Row = { ...r };
        out[countName] = releaseCount(Number(r[countName]), { ...part, maxContributionsPerUser: maxContrib }, dp.rng).value;
        for (const m of sums) {
          const sens = maxContrib * Math.max(Math.abs(m.sum.lower), Math.abs(m.sum.upper));
          out[m.name] = Math.round(addNoise(Number(r[m.name] ?? 0), sens, part, dp.rng).value * 1e6) / 1e6;
        }
        return out;
      });
      result.rows = rows;
      result.dp = { epsilon: dp.epsilon, delta, mechanism: dp.mechanism, max_contributions_per_user: maxContrib, count_noise_scale: countScale, sum_noise_scales: sumScales, ledger };
    }
    return result;
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${BASE}`);
  }
}
