// pipeline.yaml `qa:` — thresholds and severities of the QA gate. Every check has a default; an `error`
// check that fails blocks publishing, a `warn` check is reported only.
import { z } from 'zod';

export const QA_CHECKS = [
  'schema_conformance', 'key_uniqueness', 'null_rate', 'value_ranges', 'referential_integrity', 'freshness',
  'volume_change', 'timestamp_range', 'reject_rate', 'identity_match_rate', 'label_positive_rate',
  'censored_share', 'leakage', 'feature_drift', 'training_duplicates', 'pii_free_text',
] as const;
export type QaCheckName = (typeof QA_CHECKS)[number];

export const DEFAULT_SEVERITY: Record<QaCheckName, 'error' | 'warn'> = {
  schema_conformance: 'error',
  key_uniqueness: 'error',
  null_rate: 'warn',
  value_ranges: 'error',
  referential_integrity: 'error',
  freshness: 'error',
  volume_change: 'warn',
  timestamp_range: 'error',
  reject_rate: 'error',
  identity_match_rate: 'warn',
  label_positive_rate: 'warn',
  censored_share: 'warn',
  leakage: 'error',
  feature_drift: 'warn',
  training_duplicates: 'error',
  pii_free_text: 'warn',
};

const share = z.number().min(0).max(1);

export const qaSchema = z
  .object({
    /** Turn the gate off entirely (checks still run and are reported, nothing blocks). */
    enabled: z.boolean().default(true),
    /** Per check: error (blocks publishing), warn (reported), or off. */
    severity: z.partialRecord(z.enum(QA_CHECKS), z.enum(['error', 'warn', 'off'])).default({}),
    /** Highest share of NULLs in a feature column. */
    null_rate_max: share.default(0.5),
    /** Newest event of each event source at most this many days before --as-of. */
    freshness_max_days: z.number().positive().default(7),
    /** Events in the warehouse may grow by at most this share between published runs (and never shrink). */
    volume_growth_max: z.number().positive().default(1),
    /** Timestamps before this date, or after --as-of plus a day, are suspicious. */
    timestamp_floor: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).default('2000-01-01'),
    /** Highest share of rejected rows per source. */
    reject_rate_max: share.default(0.05),
    /** Lowest share of a source's people linked to an HR record (sources presenting HR-linkable keys). */
    identity_match_rate_min: share.default(0.8),
    label_positive_rate: z.object({ min: share.default(0.001), max: share.default(0.6) }).strict().default({ min: 0.001, max: 0.6 }),
    censored_share_max: share.default(0.9),
    /** Population stability index of a feature against the previous published run. */
    psi_max: z.number().positive().default(0.25),
    /** Spine rows re-checked against raw events by the leakage check. */
    leakage_sample: z.number().int().positive().default(2000),
  })
  .strict();

export type QaConfig = z.infer<typeof qaSchema>;
