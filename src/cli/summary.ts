// Human-readable summaries for the terminal. Machine-readable ones come from --json.
import type { IngestSummary } from '../normalize/ingest.js';

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
  out.push('');
  out.push(`Warehouse: ${where.warehouse}`);
  if (where.outputs?.length) {
    out.push('Outputs:');
    for (const f of where.outputs) out.push(`  ${f}`);
  }
  console.log(out.join('\n'));
}
