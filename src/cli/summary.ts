// Human-readable summaries for the terminal. Machine-readable ones come from --json.
import type { IngestSummary } from '../normalize/ingest.js';
import type { ModelingSummary } from '../modeling.js';

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

export function printIngestSummary(s: IngestSummary, where: { warehouse: string; outputs?: string[]; asOf?: string }): void {
  const out: string[] = [];
  out.push(`Loaded ${s.totals.files_loaded} file(s), skipped ${s.totals.files_skipped} already loaded${where.asOf ? ` (as of ${where.asOf})` : ''}.`);
  out.push('');
  out.push(
    table(
      ['source', 'target', 'read', 'accepted', 'duplicates', 'rejected', 'conflicts', 'late', 'dst gap', 'dst overlap', 'reconciled'],
      s.sources.map((x) => [x.source, x.target, x.rows_read, x.accepted, x.duplicates, x.rejected, x.conflicts, x.late, x.dst_gap, x.dst_overlap, x.reconciled ? 'yes' : 'NO']),
    ),
  );
  out.push(`read = accepted + duplicates + rejected: ${s.totals.rows_read} = ${s.totals.accepted} + ${s.totals.duplicates} + ${s.totals.rejected} ${s.totals.reconciled ? '(reconciled)' : '(DOES NOT RECONCILE)'}`);
  const reasons = new Map<string, number>();
  for (const x of s.sources) for (const [r, n] of Object.entries(x.rejects_by_reason)) reasons.set(r, (reasons.get(r) ?? 0) + n);
  if (reasons.size) {
    out.push('');
    out.push('Rejected rows by reason (details in the warehouse table `rejects`):');
    for (const [r, n] of [...reasons].sort()) out.push(`  ${r.padEnd(24)} ${n}`);
  }
  if (s.match_rates.length) {
    out.push('');
    out.push('Identity match rate (share of each source\'s people linked to an HR record):');
    for (const m of s.match_rates) out.push(`  ${m.source.padEnd(16)} ${(100 * m.rate).toFixed(1).padStart(5)}%  (${m.matched}/${m.keys})`);
  }
  const voided = s.sources.filter((x) => x.voided !== undefined);
  if (voided.length) {
    out.push('');
    out.push('xAPI / Caliper connectors (statements read = event rows read + voiding statements):');
    for (const x of voided) out.push(`  ${x.source.padEnd(16)} ${x.statements} statements, ${x.voiding} voiding, ${x.voided} event(s) voided`);
  }
  if (s.unmatched.length) {
    out.push('');
    out.push(`Unmatched identities (${s.unmatched.length}, by pseudonym; all in --json and identity_map):`);
    for (const u of s.unmatched.slice(0, 10)) out.push(`  ${u.source.padEnd(16)} ${u.key_kind.padEnd(24)} ${u.key_pseudonym}`);
    if (s.unmatched.length > 10) out.push(`  … and ${s.unmatched.length - 10} more`);
  }
  out.push('');
  out.push(`Warehouse: ${where.warehouse}`);
  if (where.outputs?.length) {
    out.push('Outputs:');
    for (const f of where.outputs) out.push(`  ${f}`);
  }
  console.log(out.join('\n'));
}

export function printModelingSummary(m: ModelingSummary | null): void {
  if (!m) return;
  const out: string[] = [''];
  out.push(`Features: ${m.features.columns.length} per row, ${m.features.rows} rows (spine: ${m.spine.users} learners × ${m.spine.cutoffs} cutoffs, ${m.spine.first_cutoff?.slice(0, 10) ?? '—'} … ${m.spine.last_cutoff?.slice(0, 10) ?? '—'}); tiles ${m.tiles.mode}${m.tiles.mode === 'incremental' ? ` for ${m.tiles.users} learner(s)` : ''}.`);
  if (m.labels.length) {
    out.push('');
    out.push(table(['label', 'hash', 'positive', 'negative', 'censored', 'not at risk'], m.labels.map((l) => [l.name, l.definition_hash, l.positives, l.negatives, l.censored, l.not_at_risk])));
  }
  if (m.training) {
    const t = m.training;
    out.push('');
    out.push(`Training table (label ${t.label}, imbalance: ${t.imbalance}): ${t.rows} rows; ${t.split_rule}.`);
    const pct = (r: number | null) => (r === null ? '—' : `${(100 * r).toFixed(1)}%`);
    out.push(table(['split', 'rows', 'positive rate', 'rows after', 'positive rate after'], t.balance.map((b) => [b.split, b.before.rows, pct(b.before.positive_rate), b.after.rows, pct(b.after.positive_rate)])));
  }
  const times = Object.entries(m.timings).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ');
  out.push('', `Stage times: ${times}.`);
  console.log(out.join('\n'));
}

export function printEvaluation(e: { test_roc_auc?: number | null; test_prevalence?: number; skipped?: string } | null): void {
  if (!e) return;
  if (e.skipped) console.log(`\nBaseline model: skipped (${e.skipped})`);
  else console.log(`\nBaseline model (evaluation.json, charts in report.html): test ROC AUC ${e.test_roc_auc?.toFixed(3) ?? '—'} at prevalence ${((e.test_prevalence ?? 0) * 100).toFixed(1)}%.`);
}
