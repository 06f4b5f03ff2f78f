// Connector configs for xAPI (files or an LRS's REST API) and IMS Caliper (envelope files). They live
// under `connectors:` in pipeline.yaml, beside the declarative file `sources:`, because their mapping
// is built in (statements feed events and assessments) rather than declared field by field.
import { z } from 'zod';
import { EVENT_TYPES } from '../schema/canonical.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a name of letters, digits and underscores, not starting with a digit');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name');
const eventType = z.enum(EVENT_TYPES);

const common = {
  name: identifier,
  /** A file or a glob (relative to the config file): .json (one statement or an array), .jsonl (one a line), optionally .gz. */
  path: z.string().min(1).optional(),
  /** Prefix of content ids made from activity / object ids (default: the connector kind). */
  object_namespace: identifier.optional(),
  /** Late events older than the watermark by at most this many days are admitted; older ones are rejected. */
  lookback_days: z.number().int().min(0).optional(),
  /**
   * keep: loaded files stay where they are (a file loaded once is skipped by its SHA-256). move: for a
   * folder something keeps filling (`learnpipe serve`'s incoming folders): each loaded file is moved to
   * `loaded/` beside it, and an empty folder is not an error.
   */
  after_load: z.enum(['keep', 'move']).default('keep'),
};

export const lrsSchema = z
  .object({
    /** The LRS's xAPI endpoint, e.g. https://lrs.example.com/xapi/ (statements is appended). */
    endpoint: z.string().url('expected the LRS endpoint URL'),
    /** Environment variables holding the Basic auth credentials (never the credentials themselves). */
    username_env: envName,
    password_env: envName,
    /** X-Experience-API-Version sent with every request. */
    version: z.string().regex(/^[12]\.0(\.\d+)?$/, 'expected an xAPI version such as 1.0.3').default('1.0.3'),
    page_size: z.number().int().positive().max(10000).default(500),
    /** First run only: load statements stored after this time (later runs resume from the last one loaded). */
    since: z.string().optional(),
    /** Retries of a request answered 429 or 5xx (or not answered), with exponential backoff. */
    max_retries: z.number().int().min(0).default(5),
    retry_base_ms: z.number().int().min(0).default(500),
    timeout_ms: z.number().int().positive().default(60000),
  })
  .strict();

export const xapiConnectorSchema = z
  .object({
    kind: z.literal('xapi'),
    ...common,
    lrs: lrsSchema.optional(),
    /** Verb IRI → event type, added to (and overriding) the built-in map (docs/connectors.md). */
    verbs: z.record(z.string(), eventType).default({}),
    /** Account homePage → id namespace (e.g. https://lms.example.com → moodle_id) so accounts match that directory's people. */
    accounts: z.record(z.string(), identifier).default({}),
  })
  .strict()
  .refine((c) => (c.path ? 1 : 0) + (c.lrs ? 1 : 0) === 1, { message: 'an xapi connector reads files (path) or an LRS (lrs), one of the two' });

export const caliperConnectorSchema = z
  .object({
    kind: z.literal('caliper'),
    ...common,
    path: z.string().min(1),
    /** Caliper action (e.g. NavigatedTo, or its full IRI) → event type, added to the built-in map. */
    actions: z.record(z.string(), eventType).default({}),
    /** Actor id prefix → id namespace (e.g. https://example.edu/users/ → sis_id; the rest of the id is the key). */
    actors: z.record(z.string(), identifier).default({}),
  })
  .strict();

export const connectorSchema = z.discriminatedUnion('kind', [xapiConnectorSchema, caliperConnectorSchema]);

export type XapiConnectorConfig = z.infer<typeof xapiConnectorSchema>;
export type CaliperConnectorConfig = z.infer<typeof caliperConnectorSchema>;
export type ConnectorConfig = z.infer<typeof connectorSchema>;
export type LrsConfig = z.infer<typeof lrsSchema>;
