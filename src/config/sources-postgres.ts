// Config of the LMS-database sources: a Postgres table or query read incrementally, Debezium change
// files, and the logical-replication (CDC) settings. Secrets are never in the file: the password or
// the whole URL come from environment variables the config names.
import { z } from 'zod';
import { LOADABLE_TABLES } from '../schema/canonical.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and underscores, not starting with a digit');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name');
/** A table, optionally schema-qualified: quoted when used, so only plain names are accepted. */
export const qualifiedName = z.string().regex(/^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/, 'expected a table name such as mdl_user or public.mdl_user');

export const pgConnectionSchema = z
  .object({
    /** An environment variable holding a postgres:// URL (it may carry the password). */
    url_env: envName.optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().positive().optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    /** An environment variable holding the password. */
    password_env: envName.optional(),
    ssl: z.boolean().optional(),
  })
  .strict()
  .refine((c) => c.url_env || c.host || c.database, { message: 'give url_env (a variable holding a postgres:// URL) or host/port/database/user' });

/**
 * The source schemas, built from the file sources' field mapping (passed in, so this module does not
 * import schema.ts, which imports it).
 */
export function lmsDatabaseSourceSchemas<F extends z.ZodType<Record<string, unknown>>>(fieldsSchema: F, REQUIRED_FIELDS: Record<(typeof LOADABLE_TABLES)[number], string[]>) {
  const commonSourceFields = {
    name: identifier,
    target: z.enum(LOADABLE_TABLES),
    fields: fieldsSchema,
    pii_columns: z.array(z.string()).default([]),
    free_text: z.array(z.enum(['object_name', 'course_name'])).default([]),
    lookback_days: z.number().int().min(0).optional(),
  };

  function requireFields(s: { target: (typeof LOADABLE_TABLES)[number]; fields?: unknown }, ctx: z.RefinementCtx) {
    for (const f of REQUIRED_FIELDS[s.target]) {
      if (!(f in (s.fields as object))) ctx.addIssue({ code: 'custom', path: ['fields', f], message: `a source loading ${s.target} must map the field ${f}` });
    }
  }

  const postgresSourceSchema = z
    .object({
      ...commonSourceFields,
      kind: z.literal('postgres'),
      connection: pgConnectionSchema,
      /** A table (quoted identifier, optional schema) or a query; column names in `fields` are the query's. */
      table: qualifiedName.optional(),
      query: z.string().min(1).optional(),
      /** Rows are read in order of this column, resuming after the last committed position. */
      incremental: z
        .object({
          column: identifier,
          /** key: a unique, increasing column (resumes after the last value); time: a time column (resumes at the last value; repeats count as duplicates). */
          kind: z.enum(['key', 'time']).default('key'),
        })
        .strict(),
      /** Names a row in rejects (`<table>:<row_key>=<value>`); defaults to the incremental column. */
      row_key: identifier.optional(),
      /** Rows per batch: each batch is streamed by Postgres (COPY) to a landing file and committed in its own warehouse transaction. */
      batch_rows: z.number().int().positive().default(100_000),
      /** Keep each batch's landed CSV under <warehouse folder>/landing/<source>/ after it commits (default: deleted). */
      keep_landing: z.boolean().default(false),
      /** For change data capture: the table whose changes feed this source (default: `table`). A query must name it unqualified. */
      cdc_table: qualifiedName.optional(),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (!!s.table === !!s.query) ctx.addIssue({ code: 'custom', path: ['table'], message: 'give either table or query' });
      requireFields(s, ctx);
    });

  const debeziumSourceSchema = z
    .object({
      ...commonSourceFields,
      kind: z.literal('debezium'),
      /** A file or glob of Debezium change events, one JSON envelope per line. */
      path: z.string().min(1),
      /** Only events whose source.table (or source.schema.table) is this are applied. */
      table: qualifiedName,
    })
    .strict()
    .superRefine(requireFields);
  return { postgresSourceSchema, debeziumSourceSchema };
}

export const replicationSchema = z
  .object({
    connection: pgConnectionSchema,
    slot: identifier.default('learnpipe'),
    publication: identifier.default('learnpipe'),
    /** Postgres sources whose table changes are applied (each names its table or cdc_table). */
    sources: z.array(identifier).min(1),
    /** Changes decoded per round trip (whole transactions are kept together). */
    batch_changes: z.number().int().positive().default(10_000),
  })
  .strict();

export type PgConnection = z.infer<typeof pgConnectionSchema>;
export type ReplicationConfig = z.infer<typeof replicationSchema>;
