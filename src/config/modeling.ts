// pipeline.yaml sections for modelling: features, spine, labels and the training table.
import { z } from 'zod';
import { EVENT_TYPES } from '../schema/canonical.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and underscores, not starting with a digit');
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');
const days = z.number().int().positive();

/** The built-in feature library (see src/features/library.ts for what each computes). */
export const FEATURE_KINDS = [
  'total_events', 'total_time', 'events', 'active_days', 'sessions', 'avg_session_duration', 'attempts_per_quiz',
  'quiz_attempts', 'quiz_pass_rate', 'quiz_avg_score', 'first_to_last_gap', 'recency', 'last_login_gap',
  'event_type_count', 'trend', 'role_level', 'employment_status', 'tenure_days', 'manager_team_size',
] as const;

export const featureDefSchema = z.union([
  z.enum(FEATURE_KINDS),
  z
    .object({
      kind: z.enum(FEATURE_KINDS),
      /** Column name in the outputs; defaults to a name built from kind, window and event type. */
      name: identifier.optional(),
      /** Window in days before the cutoff (events, active_days, event_type_count, sessions, total_time). */
      window_days: days.optional(),
      event_type: z.enum(EVENT_TYPES).optional(),
      description: z.string().optional(),
      /** What a learner with no data gets: keep NULL, or zero. Counts default to zero, ratios and gaps to NULL. */
      null_policy: z.enum(['keep', 'zero']).optional(),
    })
    .strict(),
]);

export const DEFAULT_FEATURES: Array<z.input<typeof featureDefSchema>> = [
  'total_events', 'total_time',
  { kind: 'events', window_days: 7 }, { kind: 'events', window_days: 30 },
  { kind: 'active_days', window_days: 7 }, { kind: 'active_days', window_days: 30 },
  'sessions', 'avg_session_duration', 'attempts_per_quiz', 'quiz_attempts', 'quiz_pass_rate', 'quiz_avg_score',
  'first_to_last_gap', 'recency', 'last_login_gap', 'trend',
  { kind: 'event_type_count', event_type: 'view' }, { kind: 'event_type_count', event_type: 'submit' }, { kind: 'event_type_count', event_type: 'forum_post' },
  'role_level', 'employment_status', 'tenure_days', 'manager_team_size',
];

export const featuresSchema = z
  .object({
    /** A session ends after this many minutes without activity. */
    session_gap_minutes: z.number().positive().default(30),
    definitions: z.array(featureDefSchema).min(1).default(DEFAULT_FEATURES as never),
  })
  .strict();

export const spineSchema = z
  .object({
    /** Fixed cutoff dates. */
    dates: z.array(isoDate).min(1).optional(),
    /** A cutoff every `days` days from `from` to `to` (both included when on the grid). */
    every: z.object({ days, from: isoDate, to: isoDate }).strict().optional(),
    /** Per learner and course: enrolment day + each of these day counts. */
    relative_to_enrollment: z.object({ days: z.array(z.number().int().min(0)).min(1), courses: z.array(z.string()).optional() }).strict().optional(),
    /** Who is in the spine for date-based cutoffs: learners with any event before the cutoff (default), or everyone known. */
    population: z.enum(['active_before_cutoff', 'all_users']).default('active_before_cutoff'),
  })
  .strict()
  .refine((s) => [s.dates, s.every, s.relative_to_enrollment].filter(Boolean).length === 1, { message: 'give exactly one of dates, every or relative_to_enrollment' });

const labelBase = { name: identifier, description: z.string().optional() };
export const labelDefSchema = z.discriminatedUnion('kind', [
  z.object({ ...labelBase, kind: z.literal('event_within'), event_type: z.enum(EVENT_TYPES), object_ids: z.array(z.string()).optional(), course_ids: z.array(z.string()).optional(), window_days: days }).strict(),
  z.object({ ...labelBase, kind: z.literal('inactivity'), window_days: days }).strict(),
  z.object({ ...labelBase, kind: z.literal('attrition'), window_days: days, statuses: z.array(z.string()).default(['terminated', 'resigned', 'left']) }).strict(),
  z.object({ ...labelBase, kind: z.literal('completion_by_due') }).strict(),
  z
    .object({
      ...labelBase,
      kind: z.literal('source_outcome'),
      /** Enrolment statuses that count as the outcome (compared in lower case), e.g. [withdrawn, fail]. */
      positive_values: z.array(z.string()).min(1),
      /** The enrolment column that places the outcome in time. */
      time_column: z.enum(['completed_at', 'due_at', 'enrolled_at']).default('completed_at'),
      window_days: days,
    })
    .strict(),
]);

export const trainingSchema = z
  .object({
    /** The label the training table carries (a name from labels). */
    label: identifier,
    split: z
      .object({
        /** Cutoffs on or after this date go to validation … */
        validation_from: isoDate.optional(),
        /** … and on or after this one to test. Without dates: the last two cutoffs are validation and test. */
        test_from: isoDate.optional(),
        /**
         * One learner's rows never straddle splits: learners are assigned to train / validation / test
         * by a seeded hash (group_fractions), and a row is kept only where its learner's group and its
         * cutoff's period agree. Off: a plain time split (one learner appears in every split).
         */
        group_safe: z.boolean().default(true),
        group_fractions: z
          .object({ train: z.number().min(0).max(1), validation: z.number().min(0).max(1), test: z.number().min(0).max(1) })
          .strict()
          .refine((f) => Math.abs(f.train + f.validation + f.test - 1) < 1e-9, { message: 'train + validation + test must be 1' })
          .default({ train: 0.6, validation: 0.2, test: 0.2 }),
        seed: z.number().int().default(42),
      })
      .strict()
      .default({ group_safe: true, group_fractions: { train: 0.6, validation: 0.2, test: 0.2 }, seed: 42 }),
    imbalance: z
      .object({ method: z.enum(['none', 'class_weight', 'undersample', 'oversample', 'smote']).default('class_weight'), seed: z.number().int().default(42), ratio: z.number().positive().max(1).optional(), k: z.number().int().positive().default(5) })
      .strict()
      .default({ method: 'class_weight', seed: 42, k: 5 }),
    /** Also write training.csv. */
    csv: z.boolean().default(false),
    /** Sensitive HR columns (e.g. performance_rating) to include as features; excluded otherwise. */
    allow_sensitive: z.array(z.enum(['performance_rating', 'salary_band'])).default([]),
    feast: z.object({ project: identifier.default('learnpipe') }).strict().default({ project: 'learnpipe' }),
    /** Fit the calibrated baseline model on every run: evaluation.json, model.json and charts in the report. */
    evaluate: z
      .object({
        enabled: z.boolean().default(false),
        loss: z.enum(['logistic', 'focal']).default('logistic'),
        class_weight: z.enum(['balanced', 'none']).default('balanced'),
        l2: z.number().positive().default(1),
        calibration: z.enum(['none', 'platt', 'isotonic']).default('platt'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type FeatureDef = z.infer<typeof featureDefSchema>;
export type SpineConfig = z.infer<typeof spineSchema>;
export type LabelDef = z.infer<typeof labelDefSchema>;
export type TrainingConfig = z.infer<typeof trainingSchema>;
export type FeaturesConfig = z.infer<typeof featuresSchema>;
