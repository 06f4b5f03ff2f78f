// pipeline.yaml `serve:` — the HTTP endpoint of `learnpipe serve` (docs/streaming.md). Paths are relative
// to the config file. The incoming folders are where accepted statements wait for the next run: point an
// xAPI connector (and a Caliper connector) at them, e.g. `path: incoming/xapi/*.jsonl, after_load: move`.
import { z } from 'zod';

export const serveSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** The file of clients and their hashed secrets (`learnpipe serve add-client`). */
    credentials: z.string().default('keys/serve-clients'),
    /** The write-ahead log folder. */
    wal_dir: z.string().default('wal'),
    /** Where closed log segments wait for the next run. */
    landing: z
      .object({ xapi: z.string().default('incoming/xapi'), caliper: z.string().default('incoming/caliper') })
      .strict()
      .prefault({}),
    /** Larger bodies are answered 413. */
    max_body_bytes: z.number().int().positive().default(1 << 20),
    /** Accepted bytes not yet loaded (log + landing) above which requests get 503 with Retry-After. */
    max_pending_mb: z.number().positive().default(512),
    /** Per client: statements (or Caliper events) a second, and the largest burst. */
    rate_limit: z
      .object({ per_second: z.number().positive().default(20000), burst: z.number().int().positive().default(40000) })
      .strict()
      .prefault({}),
    /** How often the log's active segment is closed and moved to landing. */
    flush_seconds: z.number().positive().default(1),
  })
  .strict();

export type ServeConfig = z.infer<typeof serveSchema>;
