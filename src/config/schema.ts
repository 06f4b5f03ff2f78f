// pipeline.yaml, as a zod schema. Every object is strict, so a misspelled key is an error that names
// it, and every field says what it expects. Paths in the file are relative to the file's folder.
import { z } from 'zod';
import { LOADABLE_TABLES } from '../schema/canonical.js';
import { featuresSchema, labelDefSchema, spineSchema, trainingSchema } from './modeling.js';
import { qaSchema } from './qa.js';
import { lmsDatabaseSourceSchemas, replicationSchema } from './sources-postgres.js';
import { connectorSchema } from './sources-xapi.js';
import { serveSchema } from './serve.js';

/** Identity rules, in the default order (docs/connectors.md). */
export const IDENTITY_RULES = ['employee_id', 'email', 'mbox_sha1sum', 'account'] as const;

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and underscores, not starting with a digit');
const timeZone = z.string().refine(isValidTimeZone, { message: 'expected an IANA time zone such as Europe/London or America/New_York' });
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD');

/** Where a secret key comes from: an environment variable, a key file, or both (env wins). Never the key itself. */
export const keySourceSchema = z
  .object({
    env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name').optional(),
    file: z.string().min(1, 'expected a path to a key file').optional(),
  })
  .strict()
  .refine((k) => k.env || k.file, { message: 'name an environment variable (env) or a key file (file) for the key' });

/** A value taken from a column (a dotted path for JSON sources), a constant, and/or mapped through a table. */
export const valueSpecSchema = z.union([
  z.string().min(1),
  z
    .object({
      column: z.string().min(1).optional(),
      const: z.union([z.string(), z.number(), z.boolean()]).optional(),
      map: z.record(z.string(), z.string()).optional(),
      /** Multiply a numeric value, e.g. 0.001 for milliseconds to seconds. */
      scale: z.number().positive().optional(),
    })
    .strict()
    .refine((v) => v.column !== undefined || v.const !== undefined, { message: 'give a column or a const' }),
]);

export const timeSpecSchema = z.union([
  z.string().min(1),
  z
    .object({
      column: z.string().min(1),
      /** iso: ISO-8601 with an offset (or Z); local: naive local time read in `timezone` / `timezone_column`; epoch_s / epoch_ms: Unix time. */
      format: z.enum(['iso', 'local', 'epoch_s', 'epoch_ms', 'date']).default('iso'),
      timezone: timeZone.optional(),
      timezone_column: z.string().min(1).optional(),
    })
    .strict(),
]);

export const userKeySpecSchema = z
  .object({
    column: z.string().min(1),
    /** employee_id, email, or the name of an id namespace such as moodle_id. */
    kind: identifier,
    /** A column holding each row's key kind (sources mixing kinds, such as xAPI actors); empty values fall back to `kind`. */
    kind_column: z.string().min(1).optional(),
  })
  .strict();

export const objectSpecSchema = z
  .object({
    id_column: z.string().min(1).optional(),
    name_column: z.string().min(1).optional(),
    /** Prefix of stable ids from this source's native ids (default: the source name). */
    namespace: identifier.optional(),
    type: z.string().optional(),
  })
  .strict()
  .refine((o) => o.id_column || o.name_column, { message: 'give id_column and/or name_column' });

export const fieldsSchema = z
  .object({
    event_id: valueSpecSchema.optional(),
    user: userKeySpecSchema.optional(),
    employee_id: z.string().min(1).optional(),
    email: z.string().min(1).optional(),
    event_type: valueSpecSchema.optional(),
    object: objectSpecSchema.optional(),
    course: objectSpecSchema.optional(),
    timestamp: timeSpecSchema.optional(),
    duration_seconds: valueSpecSchema.optional(),
    // enrollments
    enrolled_at: timeSpecSchema.optional(),
    due_at: timeSpecSchema.optional(),
    completed_at: timeSpecSchema.optional(),
    status: valueSpecSchema.optional(),
    // assessments
    assessment_id: valueSpecSchema.optional(),
    attempt: valueSpecSchema.optional(),
    score: valueSpecSchema.optional(),
    max_score: valueSpecSchema.optional(),
    passed: valueSpecSchema.optional(),
    submitted_at: timeSpecSchema.optional(),
    // hr_records
    effective_from: timeSpecSchema.optional(),
    effective_to: timeSpecSchema.optional(),
    employment_status: valueSpecSchema.optional(),
    role_level: valueSpecSchema.optional(),
    manager: userKeySpecSchema.optional(),
    department: valueSpecSchema.optional(),
    hire_date: timeSpecSchema.optional(),
    performance_rating: valueSpecSchema.optional(),
    salary_band: valueSpecSchema.optional(),
  })
  .strict();

export const REQUIRED_FIELDS: Record<(typeof LOADABLE_TABLES)[number], string[]> = {
  events: ['event_id', 'user', 'event_type', 'timestamp'],
  users: ['user'],
  enrollments: ['user', 'course'],
  assessments: ['assessment_id', 'user', 'submitted_at'],
  hr_records: ['user', 'effective_from'],
};

export const fileSourceSchema = z
  .object({
    name: identifier,
    kind: z.literal('file').default('file'),
    format: z.enum(['csv', 'tsv', 'jsonl', 'parquet']),
    /** A file or a glob (relative to the config file). */
    path: z.string().min(1),
    /** Canonical table the rows go to. */
    target: z.enum(LOADABLE_TABLES),
    delimiter: z.string().length(1).optional(),
    fields: fieldsSchema,
    /** Columns holding direct identifiers or personal data: filed in the encrypted vault, never stored in the warehouse. */
    pii_columns: z.array(z.string()).default([]),
    /** Mapped text fields that may hold personal data (content titles typed by people): scanned for emails, phone numbers and national ids. */
    free_text: z.array(z.enum(['object_name', 'course_name'])).default([]),
    /** Late events older than the watermark by at most this many days are admitted; older ones are rejected. */
    lookback_days: z.number().int().min(0).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const f of REQUIRED_FIELDS[s.target]) {
      if (!(f in s.fields)) ctx.addIssue({ code: 'custom', path: ['fields', f], message: `a source loading ${s.target} must map the field ${f}` });
    }
  });

/** Postgres tables or queries and Debezium change files (src/config/sources-postgres.ts). */
export const { postgresSourceSchema, debeziumSourceSchema } = lmsDatabaseSourceSchemas(fieldsSchema, REQUIRED_FIELDS);

/** A source: a file (the default kind), a Postgres table or query, or Debezium change events. */
export const sourceSchema = z.preprocess(
  (v) => (v && typeof v === 'object' && !Array.isArray(v) && !('kind' in v) ? { ...v, kind: 'file' } : v),
  z.discriminatedUnion('kind', [fileSourceSchema, postgresSourceSchema, debeziumSourceSchema]),
);

export const pipelineConfigSchema = z
  .object({
    version: z.literal(1).default(1),
    /** The DuckDB warehouse file. */
    warehouse: z.string().default('warehouse.duckdb'),
    /** Published outputs go here (each run replaces them atomically). */
    output_dir: z.string().default('out'),
    engine: z
      .object({
        /** duckdb: the embedded default (warehouse is a file); clickhouse: a ClickHouse server or cluster, or chdb in-process. */
        kind: z.enum(['duckdb', 'clickhouse']).default('duckdb'),
        threads: z.number().int().positive().optional(),
        memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as 2GB').optional(),
        clickhouse: z
          .object({
            /** A server's HTTP(S) URL (or LEARNPIPE_CLICKHOUSE_URL); without one, chdb runs ClickHouse in-process. */
            url: z.string().url().optional(),
            database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a database name (letters, digits, underscores)').default('default'),
            user: z.string().default('default'),
            /** The environment variable holding the password (never the password itself). */
            password_env: z.string().default('LEARNPIPE_CLICKHOUSE_PASSWORD'),
            /** A cluster name: tables would become ReplicatedMergeTree on every shard with a Distributed table over them; refused for now (docs/engines.md). */
            cluster: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a cluster name').optional(),
            /** chdb's data folder, relative to the config (default: the warehouse path with .chdb). */
            path: z.string().optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({ kind: 'duckdb' }),
    keys: z
      .object({
        pseudonym: keySourceSchema.default({ env: 'LEARNPIPE_PSEUDONYM_KEY' }),
        /** The PII vault's key: separate from the pseudonym key (docs/privacy.md). */
        vault: keySourceSchema.default({ env: 'LEARNPIPE_VAULT_KEY', file: 'keys/vault.key' }),
      })
      .strict()
      .prefault({}),
    privacy: z
      .object({
        /** The encrypted PII vault file (AES-256-GCM), relative to the config. */
        vault: z.string().default('vault/pii.vault'),
        /** What to do when a free-text field holds an email, phone number or national id: redact it, or fail the load. */
        pii_action: z.enum(['redact', 'fail']).default('redact'),
        /** Sensitive columns aggregate exports may read, by name. */
        allow_sensitive: z.array(z.string()).default([]),
        /** Named aggregate exports for `learnpipe export aggregate` (see docs/privacy.md). */
        aggregates: z.array(z.record(z.string(), z.unknown())).default([]),
      })
      .strict()
      .prefault({}),
    identity: z
      .object({
        /** Match people across sources by normalised email when no employee id links them. */
        match_by_email: z.boolean().default(true),
        /** Rules tried in order to link a key to a person; the rule that matched is kept in identity_map. */
        rules: z.array(z.enum(IDENTITY_RULES)).min(1).default([...IDENTITY_RULES]),
      })
      .strict()
      .prefault({}),
    content: z
      .object({
        /** Other names of the same content: alias → canonical name (e.g. a course renamed mid-year). */
        aliases: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({ aliases: {} }),
    defaults: z
      .object({ lookback_days: z.number().int().min(0).default(7), timezone: timeZone.optional() })
      .strict()
      .default({ lookback_days: 7 }),
    /** Sources mapped field by field: files, Postgres tables or queries, Debezium change files. */
    sources: z.array(sourceSchema).default([]),
    /** Change data capture from Postgres logical replication (docs/postgres.md). */
    replication: replicationSchema.optional(),
    /** Standards with a built-in mapping: xAPI (files or an LRS) and Caliper (docs/connectors.md). */
    connectors: z.array(connectorSchema).default([]),
    /** Point-in-time features (see docs/features.md); defaults to the built-in set. */
    features: featuresSchema.prefault({}),
    /** When predictions are made. Without a spine, runs stop after ingestion. */
    spine: spineSchema.optional(),
    labels: z.array(labelDefSchema).default([]),
    training: trainingSchema.optional(),
    /** The QA gate's thresholds and severities (docs/qa.md). */
    qa: qaSchema.prefault({}),
    /** The HTTP endpoint of `learnpipe serve` (docs/streaming.md). */
    serve: serveSchema.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const sourceNames = [...c.sources.map((s) => s.name), ...c.connectors.map((s) => s.name)];
    sourceNames.forEach((n, i) => sourceNames.indexOf(n) !== i && ctx.addIssue({ code: 'custom', path: i < c.sources.length ? ['sources', i, 'name'] : ['connectors', i - c.sources.length, 'name'], message: `source name ${n} is used twice` }));
    const names = c.labels.map((l) => l.name);
    names.forEach((n, i) => names.indexOf(n) !== i && ctx.addIssue({ code: 'custom', path: ['labels', i, 'name'], message: `label name ${n} is used twice` }));
    if (c.training && !names.includes(c.training.label)) ctx.addIssue({ code: 'custom', path: ['training', 'label'], message: `no label named ${c.training.label}; labels: ${names.join(', ') || '(none)'}` });
    if (c.training && !c.spine) ctx.addIssue({ code: 'custom', path: ['training'], message: 'a training table needs a spine (spine: dates, every or relative_to_enrollment)' });
    c.labels.forEach((l, i) => {
      if ((l.kind === 'completion_by_due' || l.kind === 'source_outcome') && c.spine && !c.spine.relative_to_enrollment) ctx.addIssue({ code: 'custom', path: ['labels', i, 'kind'], message: `${l.kind} labels are per course: use spine.relative_to_enrollment` });
    });
  });

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;
export type FileSourceConfig = z.infer<typeof fileSourceSchema>;
export type PostgresSourceConfig = z.infer<typeof postgresSourceSchema>;
export type DebeziumSourceConfig = z.infer<typeof debeziumSourceSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type Fields = z.infer<typeof fieldsSchema>;
export type ValueSpec = z.infer<typeof valueSpecSchema>;
export type TimeSpec = z.infer<typeof timeSpecSchema>;
export type UserKeySpec = z.infer<typeof userKeySpecSchema>;
export type ObjectSpec = z.infer<typeof objectSpecSchema>;
export { isoDate };
