// The input of the HTML report (src/quality/report.ts): everything the report shows, gathered by the
// pipeline after a run. Plain data only (JSON-serialisable), so a past run's report can be rebuilt from
// its manifest and the warehouse.

/** Load reconciliation of one source: rows read = accepted + duplicates + rejected. */
export interface ReportReconciliationRow {
  source: string;
  target: string;
  rows_read: number;
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  late: number;
  dst_gap: number;
  dst_overlap: number;
  reconciled: boolean;
}

/** Identity match rate of one source: the share of distinct keys it presented that resolved to a person. */
export interface ReportIdentityRow {
  source: string;
  keys: number;
  matched: number;
  rate: number;
}

/** One QA check result (the shape of the `qa_results` table, without the run id). */
export interface ReportQaRow {
  check_name: string;
  subject: string;
  severity: 'error' | 'warn';
  status: 'pass' | 'fail';
  value: number | null;
  threshold: string | null;
  detail: string | null;
}

/** Label counts at one cutoff. */
export interface ReportLabelBalanceRow {
  label_name: string;
  cutoff: string;
  positives: number;
  negatives: number;
  censored: number;
}

/** A histogram: `counts[i]` rows fall in `[edges[i], edges[i+1])`, so `edges.length === counts.length + 1`. */
export interface ReportHistogram {
  edges: number[];
  counts: number[];
}

export interface ReportFeature {
  name: string;
  description: string;
  histogram: ReportHistogram;
  nulls: number;
}

/** Population stability index of a feature against the previous published run (null: no baseline). */
export interface ReportDrift {
  feature: string;
  psi: number | null;
}

export interface ReportLineageNode {
  id: string;
  label: string;
  detail: string;
}

/** Inputs → stages → outputs; `edges` are `[from id, to id]`. */
export interface ReportLineage {
  inputs: ReportLineageNode[];
  stages: ReportLineageNode[];
  outputs: ReportLineageNode[];
  edges: Array<[string, string]>;
}

export interface ReportReliabilityBin {
  bin: number;
  /** Mean predicted probability in the bin. */
  predicted: number;
  /** Observed positive rate in the bin. */
  observed: number;
  count: number;
  /** true: after calibration; false or absent: before. */
  calibrated?: boolean;
}

export interface ReportModel {
  /** ROC curve points as [false positive rate, true positive rate]. */
  roc?: Array<[number, number]>;
  /** Precision–recall points as [recall, precision]. */
  pr?: Array<[number, number]>;
  reliability?: ReportReliabilityBin[];
  metrics?: Record<string, number>;
}

export interface RunReport {
  run_id: string;
  as_of: string;
  learnpipe_version: string;
  /** A free-text note shown under the title (e.g. "replayed from run …"). */
  generated_note?: string;
  reconciliation: ReportReconciliationRow[];
  rejects_by_reason: Record<string, number>;
  identity: ReportIdentityRow[];
  qa: ReportQaRow[];
  label_balance: ReportLabelBalanceRow[];
  features: ReportFeature[];
  drift: ReportDrift[];
  lineage: ReportLineage;
  model?: ReportModel;
}
