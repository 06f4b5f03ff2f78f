// What a run leaves behind besides its data: QA results (warehouse + qa.json), the report (report.html),
// the manifest (manifest.json, written last) and a row in the run history.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import type { PipelineConfig } from '../config/schema.js';
import type { IngestSummary } from '../normalize/ingest.js';
import type { ModelingSummary } from '../modeling.js';
import type { FeatureSpec } from '../features/library.js';
import type { QaResult } from './checks.js';
import type { RunReport } from './report-model.js';
import { renderReport } from './report.js';
import { buildManifest, configHash, serializeManifest, writeManifest, type Manifest, type ManifestInput } from './manifest.js';

export const LEARNPIPE_VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '0.1.0';
  }
})();

/** A run id that depends only on what the outputs depend on: --as-of, the config and the loads so far. */
export async function runIdFor(engine: Engine, config: PipelineConfig, asOf: string): Promise<string> {
  const loads = await engine.one<{ n: number; s: string | null }>(`SELECT count(*) AS n, ${engine.dialect.orderedStringAgg('coalesce(sha256, input)', ',', 'load_id')} AS s FROM loads`);
  const h = createHash('sha256').update(`${asOf}|${configHash(config)}|${loads?.n}|${loads?.s ?? ''}`).digest('hex').slice(0, 12);
  return `${asOf.slice(0, 10)}-${h}`;
}

export async function storeQaResults(engine: Engine, runId: string, results: QaResult[]): Promise<void> {
  await engine.transaction(async () => {
    await engine.run(`DELETE FROM qa_results WHERE run_id = $1`, [runId]);
    for (const r of results) {
      await engine.run(`INSERT INTO qa_results VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [runId, r.check_name, r.subject, r.severity, r.status, r.value, r.threshold, r.detail]);
    }
  });
}

export async function recordRun(engine: Engine, runId: string, asOf: string, status: 'published' | 'blocked', hash: string, manifest: Manifest | null): Promise<void> {
  await engine.transaction(async () => {
    await engine.run(`DELETE FROM runs WHERE run_id = $1`, [runId]);
    await engine.run(`INSERT INTO runs VALUES ($1, $2, $3, $4, $5)`, [runId, asOf, status, hash, manifest ? serializeManifest(manifest) : null]);
  });
}

/** The previous published run's event count (for the volume check). */
export async function previousEventCount(engine: Engine, runId: string): Promise<number | null> {
  const r = await engine.one<{ m: string }>(`SELECT manifest AS m FROM runs WHERE status = 'published' AND run_id <> $1 ORDER BY as_of DESC, run_id DESC LIMIT 1`, [runId]);
  if (!r?.m) return null;
  const m = JSON.parse(String(r.m)) as Manifest;
  return typeof m.stage_counts?.events === 'number' ? m.stage_counts.events : null;
}

export async function stageCounts(engine: Engine): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['events', 'users', 'enrollments', 'assessments', 'content', 'hr_records', 'rejects', 'user_day', 'sessions', 'spine', 'labels']) {
    out[t] = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))?.n ?? 0);
  }
  // The feature and training tables exist once a run with a spine has built them.
  for (const t of ['features', 'training']) {
    const exists = await engine.one<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1 AND table_schema = ${engine.dialect.currentSchema()}`, [t]);
    if (Number(exists?.n)) out[t] = Number((await engine.one<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))?.n ?? 0);
  }
  return out;
}

export async function manifestInputs(engine: Engine): Promise<ManifestInput[]> {
  const rows = await engine.all<Record<string, unknown>>(
    `SELECT source, input, sha256, target, rows_read, accepted, duplicates, rejected, CAST(watermark_before AS VARCHAR) AS wb, CAST(watermark_after AS VARCHAR) AS wa FROM loads ORDER BY load_id`,
  );
  return rows.map((r) => ({
    source: String(r.source),
    path: String(r.input),
    sha256: (r.sha256 as string) ?? null,
    watermark: r.wb !== null || r.wa !== null ? { from: (r.wb as string) ?? null, to: (r.wa as string) ?? null } : null,
    target: String(r.target),
    rows_read: Number(r.rows_read),
    accepted: Number(r.accepted),
    duplicates: Number(r.duplicates),
    rejected: Number(r.rejected),
  })) as ManifestInput[];
}

async function watermarks(engine: Engine): Promise<Record<string, string | null>> {
  const rows = await engine.all<{ source: string; w: string | null }>(`SELECT source, CAST(watermark_utc AS VARCHAR) AS w FROM watermarks ORDER BY source`);
  return Object.fromEntries(rows.map((r) => [r.source, r.w]));
}

export { watermarks as currentWatermarks };

/** Builds the report's data from the warehouse and this run's summaries. */
export async function buildRunReport(
  engine: Engine,
  ctx: { runId: string; asOf: string; ingest: IngestSummary; modeling: ModelingSummary | null; specs: FeatureSpec[]; qa: QaResult[]; outputs: string[]; blocked: boolean; model?: RunReport['model'] },
): Promise<RunReport> {
  const rejects: Record<string, number> = {};
  for (const r of await engine.all<{ reason: string; n: number }>(`SELECT reason, count(*) AS n FROM rejects GROUP BY 1 ORDER BY 1`)) rejects[r.reason] = Number(r.n);
  const recon = await engine.all<Record<string, unknown>>(
    `SELECT source, any_value(target) AS target, sum(rows_read) AS rows_read, sum(accepted) AS accepted, sum(duplicates) AS duplicates, sum(conflicts) AS conflicts, sum(rejected) AS rejected,
       sum(late) AS late, sum(dst_gap) AS dst_gap, sum(dst_overlap) AS dst_overlap, count(*) FILTER (WHERE rows_read <> accepted + duplicates + rejected) = 0 AS reconciled FROM loads GROUP BY 1 ORDER BY 1`,
  );
  const features: RunReport['features'] = [];
  const labelBalance: RunReport['label_balance'] = [];
  if (ctx.modeling) {
    for (const s of ctx.specs.filter((x) => x.type !== 'varchar')) {
      const q = engine.dialect.quoteIdent(s.name);
      const st = await engine.one<{ lo: number | null; hi: number | null; nulls: number }>(`SELECT min(${q}) AS lo, max(${q}) AS hi, count(*) FILTER (WHERE ${q} IS NULL) AS nulls FROM features`);
      const lo = st?.lo === null || st?.lo === undefined ? null : Number(st.lo);
      const hi = st?.hi === null || st?.hi === undefined ? null : Number(st.hi);
      let edges: number[] = [];
      let counts: number[] = [];
      if (lo !== null && hi !== null) {
        const bins = hi > lo ? 12 : 1;
        const width = hi > lo ? (hi - lo) / bins : 1;
        edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
        const rows = await engine.all<{ b: number; n: number }>(`SELECT least(${bins - 1}, CAST(floor((${q} - ${lo}) / ${width}) AS INTEGER)) AS b, count(*) AS n FROM features WHERE ${q} IS NOT NULL GROUP BY 1 ORDER BY 1`);
        counts = Array(bins).fill(0);
        for (const r of rows) counts[Number(r.b)] = Number(r.n);
      }
      features.push({ name: s.name, description: s.description, histogram: { edges, counts }, nulls: Number(st?.nulls ?? 0) });
    }
    for (const r of await engine.all<Record<string, unknown>>(
      `SELECT label_name, CAST(CAST(label_window_start AS DATE) AS VARCHAR) AS cutoff, count(*) FILTER (WHERE label_value = 1) AS p, count(*) FILTER (WHERE label_value = 0) AS n, count(*) FILTER (WHERE censored) AS c
       FROM labels WHERE computation_date = $1 GROUP BY ALL ORDER BY ALL`,
      [ctx.asOf],
    )) {
      labelBalance.push({ label_name: String(r.label_name), cutoff: String(r.cutoff), positives: Number(r.p), negatives: Number(r.n), censored: Number(r.c) });
    }
  }
  const sources = [...new Set(recon.map((r) => String(r.source)))];
  const stages = ['ingest', ...(ctx.modeling ? ['tiles', 'spine', 'features', 'labels', ...(ctx.modeling.training ? ['training'] : [])] : []), 'qa'];
  const edges: Array<[string, string]> = sources.map((s) => [`in:${s}`, 'stage:ingest'] as [string, string]);
  for (let i = 1; i < stages.length; i++) edges.push([`stage:${stages[i - 1]}`, `stage:${stages[i]}`]);
  const outNames = ctx.outputs.map((f) => path.basename(f));
  for (const o of outNames) edges.push(['stage:qa', `out:${o}`]);
  return {
    run_id: ctx.runId,
    as_of: ctx.asOf,
    learnpipe_version: LEARNPIPE_VERSION,
    generated_note: ctx.blocked ? 'Blocked: outputs not published' : undefined,
    reconciliation: recon.map((r) => ({
      source: String(r.source), target: String(r.target), rows_read: Number(r.rows_read), accepted: Number(r.accepted), duplicates: Number(r.duplicates), conflicts: Number(r.conflicts),
      rejected: Number(r.rejected), late: Number(r.late), dst_gap: Number(r.dst_gap), dst_overlap: Number(r.dst_overlap), reconciled: Boolean(r.reconciled),
    })),
    rejects_by_reason: rejects,
    ...(ctx.model ? { model: ctx.model } : {}),
    identity: ctx.ingest.match_rates.map((m) => ({ ...m })),
    qa: ctx.qa,
    label_balance: labelBalance,
    features,
    drift: ctx.qa.filter((q) => q.check_name === 'feature_drift').map((q) => ({ feature: q.subject, psi: q.value })),
    lineage: {
      inputs: sources.map((s) => ({ id: `in:${s}`, label: s, detail: `${recon.find((r) => r.source === s)?.rows_read ?? 0} rows read` })),
      // No timings here: the report is part of the byte-identical outputs.
      stages: stages.map((s) => ({ id: `stage:${s}`, label: s, detail: STAGE_DETAIL[s] ?? '' })),
      outputs: outNames.map((o) => ({ id: `out:${o}`, label: o, detail: '' })),
      edges,
    },
  } as RunReport;
}

const STAGE_DETAIL: Record<string, string> = {
  ingest: 'normalise, pseudonymise, dedupe',
  tiles: 'daily tiles, sessions',
  spine: 'cutoffs',
  features: 'point in time',
  labels: 'censored if unobserved',
  training: 'splits, imbalance',
  qa: 'gate',
};

/** The pseudonym key's fingerprint and the rotation history, from the warehouse metadata. */
async function keyRecord(engine: Engine): Promise<{ pseudonym_key_id: string | null; rotations: unknown[] }> {
  const rows = await engine.all<{ key: string; value: string }>(`SELECT key, value FROM learnpipe_meta WHERE key IN ('pseudonym_key_id', 'key_rotations')`);
  const get = (k: string) => rows.find((r) => r.key === k)?.value ?? null;
  return { pseudonym_key_id: get('pseudonym_key_id'), rotations: get('key_rotations') ? JSON.parse(get('key_rotations')!) : [] };
}

/** Writes qa.json, report.html and (last) manifest.json into dir; returns the manifest. */
export async function writeRunRecord(
  engine: Engine,
  dir: string,
  ctx: { runId: string; asOf: string; config: PipelineConfig; ingest: IngestSummary; modeling: ModelingSummary | null; specs: FeatureSpec[]; qa: QaResult[]; dataFiles: string[]; blocked: boolean; watermarksBefore: Record<string, string | null>; model?: RunReport['model'] },
): Promise<{ manifest: Manifest; files: string[] }> {
  mkdirSync(dir, { recursive: true });
  const qaFile = path.join(dir, 'qa.json');
  writeFileSync(qaFile, JSON.stringify({ run_id: ctx.runId, as_of: ctx.asOf, blocked: ctx.blocked, results: ctx.qa }, null, 2) + '\n');
  const reportFile = path.join(dir, 'report.html');
  const report = await buildRunReport(engine, { runId: ctx.runId, asOf: ctx.asOf, ingest: ctx.ingest, modeling: ctx.modeling, specs: ctx.specs, qa: ctx.qa, outputs: [...ctx.dataFiles, qaFile, reportFile], blocked: ctx.blocked, model: ctx.model });
  writeFileSync(reportFile, renderReport(report));
  const manifest = await buildManifest({
    run_id: ctx.runId,
    as_of: ctx.asOf,
    learnpipe_version: LEARNPIPE_VERSION,
    config_hash: configHash(ctx.config),
    inputs: await manifestInputs(engine),
    watermarks: { before: ctx.watermarksBefore, after: await watermarks(engine) },
    stage_counts: await stageCounts(engine),
    labels: (ctx.modeling?.labels ?? []).map((l) => ({ name: l.name, definition_hash: l.definition_hash })),
    qa: ctx.qa,
    keys: await keyRecord(engine),
    outputs_dir: dir,
  });
  const manifestFile = writeManifest(dir, manifest);
  return { manifest, files: [qaFile, reportFile, manifestFile] };
}
