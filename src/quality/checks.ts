// The QA gate: checks on the canonical tables, features, labels and the training table, run before
// anything is published. Each result names its subject, the measured value and the threshold.
import { existsSync } from 'node:fs';
import type { Engine } from '../engine/engine.js';
import { DuckDBEngine } from '../engine/duckdb.js';
import type { PipelineConfig } from '../config/schema.js';
import { DEFAULT_SEVERITY, type QaCheckName, type QaConfig } from '../config/qa.js';
import { CANONICAL_TABLES, BOOKKEEPING_TABLES, type TableDef } from '../schema/canonical.js';
import type { ReportQaRow } from './report-model.js';
import type { ModelingSummary } from '../modeling.js';
import type { FeatureSpec } from '../features/library.js';
import { piiFindSql } from '../privacy/pii-scan.js';

export type QaResult = ReportQaRow;

export interface QaContext {
  asOf: string;
  modeling: ModelingSummary | null;
  specs: FeatureSpec[];
  /** features.parquet of the previous published run, for drift. */
  previousFeatures: string | null;
  /** Events in the warehouse at the previous published run. */
  previousEventCount: number | null;
}

export async function runQaChecks(engine: Engine, config: PipelineConfig, qa: QaConfig, ctx: QaContext): Promise<QaResult[]> {
  const out: QaResult[] = [];
  const sev = (c: QaCheckName) => qa.severity[c] ?? DEFAULT_SEVERITY[c];
  const add = (check: QaCheckName, subject: string, ok: boolean, value: number | null, threshold: string | null, detail: string | null) => {
    const s = sev(check);
    if (s === 'off') return;
    out.push({ check_name: check, subject, severity: s, status: ok ? 'pass' : 'fail', value: value === null || Number.isNaN(value) ? null : round(value), threshold, detail });
  };
  const num = async (sql: string, params?: unknown[]) => Number((await engine.one<{ v: unknown }>(sql, params as never))?.v ?? 0);
  const q = (n: string) => engine.dialect.quoteIdent(n);
  const tables = [...CANONICAL_TABLES, ...BOOKKEEPING_TABLES];

  // Schema conformance: every column present with its type; required columns without NULLs.
  if (sev('schema_conformance') !== 'off') {
    for (const t of tables) {
      const cols = new Map((await engine.all<{ c: string; t: string }>(`SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = $1 AND table_schema = ${engine.dialect.currentSchema()}`, [t.name])).map((r) => [r.c, r.t]));
      const problems: string[] = [];
      for (const c of t.columns) {
        const have = cols.get(c.name);
        if (!have) problems.push(`missing column ${c.name}`);
        else if (!engine.dialect.typeMatches(c.type, c.nullable, have)) problems.push(`${c.name} is ${have}, expected ${engine.dialect.sqlType(c.type)}`);
      }
      const required = t.columns.filter((c) => !c.nullable && cols.has(c.name));
      let nulls = 0;
      if (required.length && !problems.length) {
        nulls = await num(`SELECT count(*) AS v FROM ${q(t.name)} WHERE ${required.map((c) => `${q(c.name)} IS NULL`).join(' OR ')}`);
        if (nulls) problems.push(`${nulls} row(s) with NULL in a required column`);
      }
      add('schema_conformance', t.name, problems.length === 0, problems.length, '0 problems', problems.join('; ') || null);
    }
  }

  // Keys are unique.
  if (sev('key_uniqueness') !== 'off') {
    const keyed: Array<[string, string[]]> = tables.filter((t: TableDef) => t.key.length && t.name !== 'learnpipe_meta').map((t) => [t.name, t.key]);
    if (ctx.modeling?.training) keyed.push(['training', ['row_id']]);
    for (const [name, key] of keyed) {
      const dups = await num(`SELECT count(*) AS v FROM (SELECT ${key.map(q).join(', ')} FROM ${q(name)} GROUP BY ALL HAVING count(*) > 1)`);
      add('key_uniqueness', `${name}(${key.join(', ')})`, dups === 0, dups, '0 duplicated keys', dups ? `${dups} key value(s) occur more than once` : null);
    }
  }

  // Value ranges.
  if (sev('value_ranges') !== 'off') {
    const neg = await num(`SELECT count(*) AS v FROM events WHERE duration_seconds < 0`);
    add('value_ranges', 'events.duration_seconds', neg === 0, neg, '>= 0', neg ? `${neg} negative duration(s)` : null);
    const bad = await num(`SELECT count(*) AS v FROM assessments WHERE score < 0 OR score > max_score`);
    add('value_ranges', 'assessments.score', bad === 0, bad, '0 <= score <= max_score', bad ? `${bad} score(s) out of range` : null);
    for (const f of ctx.specs.filter((s) => s.null_policy === 'zero' && s.type === 'bigint')) {
      const n = await num(`SELECT count(*) AS v FROM features WHERE ${q(f.name)} < 0`);
      if (n) add('value_ranges', `features.${f.name}`, false, n, '>= 0', `${n} negative count(s)`);
    }
  }

  // Referential integrity: events point at known people and content.
  if (sev('referential_integrity') !== 'off') {
    const u = await num(`SELECT count(*) AS v FROM events e WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = e.user_id)`);
    add('referential_integrity', 'events.user_id → users', u === 0, u, '0 orphans', u ? `${u} event(s) whose user_id is not in users` : null);
    const c = await num(`SELECT count(*) AS v FROM events e WHERE e.object_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM content c WHERE c.object_id = e.object_id)`);
    add('referential_integrity', 'events.object_id → content', c === 0, c, '0 orphans', c ? `${c} event(s) whose object_id is not in content` : null);
  }

  // Freshness per event source: the newest accepted event vs --as-of.
  if (sev('freshness') !== 'off') {
    const rows = await engine.all<{ source: string; age: number | null }>(`SELECT source, date_diff('second', max(watermark_utc), CAST($1 AS TIMESTAMP)) / 86400.0 AS age FROM watermarks GROUP BY 1 ORDER BY 1`, [ctx.asOf]);
    for (const r of rows) {
      const age = r.age === null ? null : Number(r.age);
      add('freshness', r.source, age !== null && age <= qa.freshness_max_days, age, `<= ${qa.freshness_max_days} days`, age !== null && age > qa.freshness_max_days ? `newest event is ${age.toFixed(1)} days before --as-of` : null);
    }
  }

  // Volume change against the previous published run.
  if (sev('volume_change') !== 'off') {
    const now = await num(`SELECT count(*) AS v FROM events`);
    if (ctx.previousEventCount !== null && ctx.previousEventCount > 0) {
      const change = (now - ctx.previousEventCount) / ctx.previousEventCount;
      add('volume_change', 'events', change >= 0 && change <= qa.volume_growth_max, change, `0 … +${qa.volume_growth_max}`, change < 0 ? `events shrank by ${(-100 * change).toFixed(1)}%` : change > qa.volume_growth_max ? `events grew by ${(100 * change).toFixed(0)}%` : null);
    } else add('volume_change', 'events', true, null, 'no previous run', null);
  }

  // Timestamps in the future or before the floor.
  if (sev('timestamp_range') !== 'off') {
    const n = await num(`SELECT count(*) AS v FROM events WHERE timestamp_utc > CAST($1 AS TIMESTAMP) + INTERVAL 1 DAY OR timestamp_utc < CAST($2 AS TIMESTAMP)`, [ctx.asOf, qa.timestamp_floor]);
    add('timestamp_range', 'events.timestamp_utc', n === 0, n, `${qa.timestamp_floor} … as-of + 1 day`, n ? `${n} event(s) outside the range` : null);
  }

  // Reject rate per source (all loads so far).
  if (sev('reject_rate') !== 'off') {
    for (const r of await engine.all<{ source: string; read: number; rejected: number }>(`SELECT source, sum(rows_read) AS read, sum(rejected) AS rejected FROM loads GROUP BY 1 ORDER BY 1`)) {
      const rate = Number(r.read) ? Number(r.rejected) / Number(r.read) : 0;
      add('reject_rate', r.source, rate <= qa.reject_rate_max, rate, `<= ${qa.reject_rate_max}`, rate > qa.reject_rate_max ? `${r.rejected} of ${r.read} rows rejected` : null);
    }
  }

  // Identity match rate per source (sources whose people can be linked to HR at all).
  if (sev('identity_match_rate') !== 'off' && (await num(`SELECT count(*) AS v FROM hr_records`)) > 0) {
    for (const r of await engine.all<{ source: string; keys: number; matched: number }>(`SELECT source, count(*) AS keys, count(*) FILTER (WHERE m.rule <> 'unmatched') AS matched FROM identity_map m${engine.dialect.unnestJoin('m.sources', 'source')} GROUP BY 1 ORDER BY 1`)) {
      const rate = Number(r.keys) ? Number(r.matched) / Number(r.keys) : 1;
      add('identity_match_rate', r.source, rate >= qa.identity_match_rate_min, rate, `>= ${qa.identity_match_rate_min}`, rate < qa.identity_match_rate_min ? `${Number(r.keys) - Number(r.matched)} of ${r.keys} identities unmatched` : null);
    }
  }

  // Personal data in free text: what is left in stored content names must be nothing; the redactions
  // made on load are counted.
  if (sev('pii_free_text') !== 'off') {
    const left = await num(`SELECT count(*) AS v FROM content_names WHERE ${piiFindSql('name', undefined, engine.dialect)}`);
    const redacted = await num(`SELECT count(*) AS v FROM content_names WHERE name LIKE '%[EMAIL]%' OR name LIKE '%[PHONE]%' OR name LIKE '%[ID]%'`);
    add('pii_free_text', 'content_names.name', left === 0, left, '0 unredacted', left ? `${left} content name(s) hold an email, phone number or id (add free_text to the source)` : redacted ? `${redacted} name(s) redacted on load` : null);
  }

  const m = ctx.modeling;
  if (m) {
    // Null rates of feature columns.
    if (sev('null_rate') !== 'off' && m.features.rows > 0) {
      const rates = await engine.one<Record<string, unknown>>(`SELECT ${ctx.specs.map((s) => `avg(CASE WHEN ${q(s.name)} IS NULL THEN 1.0 ELSE 0 END) AS ${q(s.name)}`).join(', ')} FROM features`);
      for (const s of ctx.specs) {
        const r = Number(rates?.[s.name] ?? 0);
        add('null_rate', `features.${s.name}`, r <= qa.null_rate_max, r, `<= ${qa.null_rate_max}`, r > qa.null_rate_max ? `${(100 * r).toFixed(1)}% NULL` : null);
      }
    }
    // Label positive rates and censoring.
    for (const l of m.labels) {
      const labelled = l.positives + l.negatives;
      const rate = labelled ? l.positives / labelled : 0;
      add('label_positive_rate', l.name, labelled > 0 && rate >= qa.label_positive_rate.min && rate <= qa.label_positive_rate.max, rate, `${qa.label_positive_rate.min} … ${qa.label_positive_rate.max}`, labelled ? null : 'no labelled rows');
      const cens = l.rows ? l.censored / l.rows : 0;
      add('censored_share', l.name, cens <= qa.censored_share_max, cens, `<= ${qa.censored_share_max}`, cens > qa.censored_share_max ? `${l.censored} of ${l.rows} windows not yet observed` : null);
    }
    // Leakage: recount a sample of spine rows straight from events (only rows before the cutoff may
    // count), and check every label window starts at its cutoff and reads only after it.
    if (sev('leakage') !== 'off') {
      const has = (n: string) => ctx.specs.some((s) => s.name === n && s.kind === 'total_events' && !s.window_days);
      if (has('total_events')) {
        const leaks = await num(
          `WITH s AS (SELECT user_id, course_id, cutoff, total_events FROM features ORDER BY ${engine.dialect.hash('user_id', 'cutoff')} LIMIT ${qa.leakage_sample})
           SELECT count(*) AS v FROM s WHERE s.total_events <> (SELECT count(*) FROM events e WHERE e.user_id = s.user_id AND e.timestamp_utc < s.cutoff)`,
        );
        add('leakage', 'features (recount of total_events from events before each cutoff)', leaks === 0, leaks, '0 rows', leaks ? `${leaks} sampled row(s) count events at or after their cutoff` : null);
      }
      const recency = ctx.specs.find((s) => s.kind === 'recency');
      if (recency) {
        const n = await num(`SELECT count(*) AS v FROM features WHERE ${q(recency.name)} <= 0`);
        add('leakage', `features.${recency.name}`, n === 0, n, '> 0', n ? `${n} row(s) whose last event is at or after the cutoff` : null);
      }
      const bad = await num(
        `SELECT count(*) AS v FROM labels l WHERE l.computation_date = $1 AND (l.label_window_end <= l.label_window_start
           OR NOT ${engine.dialect.hasMatch('l', '(SELECT user_id, course_id, cutoff AS label_window_start FROM spine)', 's', ['user_id', 'course_id', 'label_window_start'], ['course_id'])})`,
        [ctx.asOf],
      );
      add('leakage', 'labels (window starts at the cutoff and ends after it)', bad === 0, bad, '0 rows', bad ? `${bad} label(s) whose window does not start at a spine cutoff` : null);
      for (const def of config.labels.filter((d) => d.kind === 'event_within')) {
        const lab = m.labels.find((x) => x.name === def.name);
        if (!lab) continue;
        const n = await num(
          `SELECT count(*) AS v FROM labels l WHERE l.definition_hash = $1 AND l.computation_date = $2 AND l.label_value = 1
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = l.user_id AND e.event_type = $3 AND e.timestamp_utc > l.label_window_start AND e.timestamp_utc <= l.label_window_end)`,
          [lab.definition_hash, ctx.asOf, (def as { event_type: string }).event_type],
        );
        add('leakage', `labels.${def.name} (positives have their event inside the window)`, n === 0, n, '0 rows', n ? `${n} positive label(s) without an event in (cutoff, cutoff + window]` : null);
      }
    }
    // Drift against the previous published features.
    if (sev('feature_drift') !== 'off' && ctx.previousFeatures && existsSync(ctx.previousFeatures)) {
      for (const s of ctx.specs.filter((x) => x.type !== 'varchar')) {
        const psi = await featurePsi(engine, ctx.previousFeatures, s.name);
        if (psi === null) continue;
        add('feature_drift', s.name, psi <= qa.psi_max, psi, `PSI <= ${qa.psi_max}`, psi > qa.psi_max ? `distribution moved (PSI ${psi.toFixed(3)})` : null);
      }
    }
    // Duplicate rows in the training table (same learner, course and cutoff among real rows).
    if (m.training) {
      const d = await num(`SELECT count(*) AS v FROM (SELECT user_id, course_id, cutoff FROM training WHERE NOT synthetic GROUP BY ALL HAVING count(*) > 1)`);
      add('training_duplicates', 'training', d === 0, d, '0', d ? `${d} (user, course, cutoff) appear more than once` : null);
    }
  }
  return out;
}

/**
 * PSI of a feature between the previous features file and the current table, on the previous deciles.
 * The previous file is local Parquet, read by an in-process DuckDB whatever the warehouse engine; the
 * current side is binned in the warehouse against those edges, so only a dozen counts travel.
 */
export async function featurePsi(engine: Engine, previousParquet: string, column: string): Promise<number | null> {
  const reader = await DuckDBEngine.open(':memory:');
  let edges: number[];
  let prev: Map<number, number>;
  try {
    const file = reader.dialect.quoteString(previousParquet);
    const cols = await reader.all<{ c: string }>(`SELECT name AS c FROM parquet_schema(${file})`);
    if (!cols.some((c) => c.c === column)) return null;
    const v = `CAST(${reader.dialect.quoteIdent(column)} AS DOUBLE)`;
    const e = await reader.one<{ e: number[] | null }>(`SELECT list_sort(list_distinct(quantile_disc(${v}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))) AS e FROM read_parquet(${file})`);
    edges = (e?.e ?? []).map(Number);
    prev = await binCounts(reader, `(SELECT ${v} AS v FROM read_parquet(${file}))`, edges);
  } finally {
    await reader.close();
  }
  const cur = await binCounts(engine, `(SELECT CAST(${engine.dialect.quoteIdent(column)} AS DOUBLE) AS v FROM features)`, edges);
  const total = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const [nPrev, nCur] = [total(prev), total(cur)];
  if (!nPrev || !nCur) return null;
  let psi = 0;
  for (const bin of [...new Set([...prev.keys(), ...cur.keys()])].sort((a, b) => a - b)) {
    const expected = Math.max((prev.get(bin) ?? 0) / nPrev, 1e-4);
    const actual = Math.max((cur.get(bin) ?? 0) / nCur, 1e-4);
    psi += (actual - expected) * Math.log(actual / expected);
  }
  return psi;
}

/** Rows per bin of column v of a relation: the number of edges below the value, -1 for NULL. */
async function binCounts(engine: Engine, relation: string, edges: number[]): Promise<Map<number, number>> {
  const below = edges.length ? edges.map((x) => `CASE WHEN v > ${String(x)} THEN 1 ELSE 0 END`).join(' + ') : '0';
  const rows = await engine.all<{ bin: number; n: number }>(`SELECT CASE WHEN v IS NULL THEN CAST(-1 AS INTEGER) ELSE CAST(${below} AS INTEGER) END AS bin, count(*) AS n FROM ${relation} AS r GROUP BY 1`);
  return new Map(rows.map((r) => [Number(r.bin), Number(r.n)]));
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

export function qaBlocked(results: QaResult[]): QaResult[] {
  return results.filter((r) => r.status === 'fail' && r.severity === 'error');
}
