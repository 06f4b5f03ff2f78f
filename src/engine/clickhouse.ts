// The ClickHouse engine: a server through the official @clickhouse/client (one session over HTTP), or ClickHouse's
// engine embedded in-process through chdb (an optional dependency: it weighs over 500 MB, so it is
// loaded only when chosen). Both speak the same SQL, rendered by ClickHouseDialect.
//
// Parameters: stage code binds values as $1, $2 … (or $name); they are rewritten to ClickHouse's typed
// placeholders {p1:Type} and bound by the server, never spliced into the SQL text.
//
// Transactions: ClickHouse has none. transaction() runs its function as is; what keeps a load
// idempotent and crash-safe on ClickHouse is that every write is an INSERT … SELECT over a deduplicated
// set tagged with its load_id, and the load is recorded last (docs/engines.md).
import { createRequire } from 'node:module';
import { createReadStream, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import type { Engine, Row, SqlParams, SqlValue } from './engine.js';
import { EngineError, EngineSetupError } from './engine.js';
import { ClickHouseDialect } from './dialects/clickhouse.js';
import { assertIdentifier } from './dialects/dialect.js';

const TRACE = Boolean(process.env.LEARNPIPE_TRACE_SQL);

/**
 * Settings every learnpipe session runs with: standard SQL NULL semantics for outer joins, casts and
 * IN; synchronous mutations (a DELETE is visible to the next statement); UTC.
 */
export const SESSION_SETTINGS: Record<string, string | number> = {
  join_use_nulls: 1,
  cast_keep_nullable: 1,
  transform_null_in: 1,
  union_default_mode: 'DISTINCT',
  // In `sum(x) AS x, count(*) FILTER (WHERE x > 0)` the second x is the column, as in standard SQL.
  prefer_column_name_to_alias: 1,
  mutations_sync: 2,
  lightweight_deletes_sync: 2,
  session_timezone: 'UTC',
  // CREATE [OR REPLACE] TABLE … AS SELECT without an ENGINE clause (as in DuckDB) makes a MergeTree.
  default_table_engine: 'MergeTree',
  create_table_empty_primary_key_by_default: 1,
  // Lightweight updates (UPDATE t SET …) on tables created with a block number column.
  allow_experimental_lightweight_update: 1,
};

/** How long a server keeps an idle session (the server's max_session_timeout must allow it; its default is 3600). */
export const SESSION_TIMEOUT_S = 3600;

export interface ClickHouseOptions {
  /** chdb: an embedded engine keeping its data in `path`; server: a ClickHouse server at `url`. */
  mode: 'chdb' | 'server';
  path?: string;
  url?: string;
  database?: string;
  username?: string;
  password?: string;
  /** A cluster name (tables would be ReplicatedMergeTree + Distributed, see ClickHouseDialect): refused for now, see CLUSTER_UNSUPPORTED. */
  cluster?: string | null;
  /** Server: seconds a session lasts between two statements (default SESSION_TIMEOUT_S). */
  sessionTimeout?: number;
}

/** What the two ways of reaching ClickHouse have in common. */
interface Transport {
  exec(sql: string, params: Record<string, unknown>): Promise<void>;
  /** Rows as JSONCompactEachRowWithNamesAndTypes lines: names, types, then one array per row. */
  query(sql: string, params: Record<string, unknown>): Promise<string>;
  /** Writes the rows of a query in a ClickHouse output format (Parquet, CSVWithNames) to a local file. */
  exportTo(sql: string, params: Record<string, unknown>, format: string, file: string): Promise<void>;
  /** Inserts a local Parquet file's rows into a table (chdb reads it in place; a server receives its bytes). */
  insertParquet(table: string, columns: string[], file: string): Promise<void>;
  /**
   * Sends rows in the request body (a server): bound parameters travel in the URL, where a server
   * takes at most ~1,000 fields and 1 MiB. Without it, rows go as batches of bound VALUES (chdb).
   */
  insertRows?(table: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void>;
  close(): Promise<void>;
}

/** Rewrites $1 / $name placeholders outside string literals and quoted identifiers to {name:Type}. */
export function bindPlaceholders(sql: string, params: SqlParams | undefined): { sql: string; values: Record<string, unknown> } {
  if (!params || (Array.isArray(params) && params.length === 0)) return { sql, values: {} };
  const values: Record<string, unknown> = {};
  const lookup = (key: string): SqlValue => {
    if (Array.isArray(params)) {
      const i = Number(key) - 1;
      if (!Number.isInteger(i) || i < 0 || i >= params.length) throw new Error(`no value bound for $${key}`);
      return params[i];
    }
    if (!(key in params)) throw new Error(`no value bound for $${key}`);
    return params[key];
  };
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === '`') {
      // Copy a quoted span whole (a doubled quote or a backslash escape stays inside it).
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\') j += 2;
        else if (sql[j] === ch && sql[j + 1] === ch) j += 2;
        else if (sql[j] === ch) break;
        else j++;
      }
      out += sql.slice(i, j + 1);
      i = j;
      continue;
    }
    const m = ch === '$' ? /^\$([A-Za-z_][A-Za-z0-9_]*|\d+)/.exec(sql.slice(i, i + 64)) : null;
    if (!m) {
      out += ch;
      continue;
    }
    const key = m[1];
    const name = /^\d/.test(key) ? `p${key}` : key;
    const v = lookup(key);
    values[name] = typeof v === 'bigint' ? v.toString() : v;
    out += `{${name}:${typeOfValue(v)}}`;
    i += m[0].length - 1;
  }
  return { sql: out, values };
}

function typeOfValue(v: SqlValue): string {
  if (v === null || v === undefined) return 'Nullable(String)';
  if (typeof v === 'string') return 'String';
  if (typeof v === 'boolean') return 'Bool';
  if (typeof v === 'bigint') return 'Int64';
  return Number.isInteger(v) ? 'Int64' : 'Float64';
}

const INT64 = /^(Nullable\()?(U?Int(64|128|256))\)?$/;

/** Parses JSONCompactEachRowWithNamesAndTypes; 64-bit integers arrive quoted and become numbers when safe. */
export function parseRows(text: string): Row[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length < 2) return [];
  const names = JSON.parse(lines[0]) as string[];
  const types = JSON.parse(lines[1]) as string[];
  const big = types.map((t) => INT64.test(t));
  const rows: Row[] = [];
  for (let r = 2; r < lines.length; r++) {
    const values = JSON.parse(lines[r]) as unknown[];
    const row: Row = {};
    for (let c = 0; c < names.length; c++) {
      let v = values[c];
      if (big[c] && typeof v === 'string') v = Number.isSafeInteger(Number(v)) ? Number(v) : v;
      row[names[c]] = v;
    }
    rows.push(row);
  }
  return rows;
}

const requireOptional = createRequire(import.meta.url);

/** The part of chdb's API learnpipe uses (declared here: chdb is not installed by default, so its types may be absent). */
interface ChdbModule {
  Session: new (path: string) => {
    queryBindAsync(sql: string, params: object, opts: { format: string }): Promise<{ bytes(): Uint8Array; text(): string }>;
    close(): void;
  };
}

/** Loads chdb, or says how to install it. */
function loadChdb(): ChdbModule {
  try {
    return requireOptional('chdb') as ChdbModule;
  } catch (err) {
    throw new EngineSetupError(
      'the ClickHouse engine in embedded mode needs the optional package chdb (ClickHouse in-process, ~540 MB): ' +
        'run `npm install chdb` in the project (`npm run chdb` in a learnpipe checkout), or point engine.clickhouse.url at a ClickHouse server',
      { cause: err },
    );
  }
}

function chdbTransport(path: string): Transport {
  const chdb = loadChdb();
  mkdirSync(path, { recursive: true });
  const session = new chdb.Session(path);
  return {
    async exec(sql, params) {
      await session.queryBindAsync(sql, params, { format: 'Null' });
    },
    async query(sql, params) {
      return (await session.queryBindAsync(sql, params, { format: 'JSONCompactEachRowWithNamesAndTypes' })).text();
    },
    async exportTo(sql, params, format, file) {
      const r = await session.queryBindAsync(sql, params, { format });
      writeFileSync(file, r.bytes());
    },
    async insertParquet(table, columns, file) {
      const cols = columns.map((c) => `"${c}"`).join(', ');
      await session.queryBindAsync(`INSERT INTO "${table}" (${cols}) SELECT ${cols} FROM file({file:String}, 'Parquet')`, { file }, { format: 'Null' });
    },
    async close() {
      session.close();
    },
  };
}

/**
 * The client's own log: its warnings go to stderr; its error lines are dropped, since every failed
 * statement is thrown as an EngineError naming the statement (the client would print each one again,
 * with a stack trace, also for errors that learnpipe handles).
 */
class ClientLog {
  trace() {}
  debug() {}
  info() {}
  warn({ message }: { message: string }) {
    process.stderr.write(`warning: ClickHouse client: ${message}\n`);
  }
  error() {}
}

async function serverTransport(o: ClickHouseOptions): Promise<Transport> {
  const { createClient } = await import('@clickhouse/client');
  // (session_timeout and session_check are HTTP parameters, not settings: sent alongside them.)
  type Settings = NonNullable<Parameters<typeof createClient>[0]>['clickhouse_settings'];
  // A user or password in the URL (https://user:password@host) wins over the configured one (a URL
  // with a user alone takes the password from the environment as usual); the client gets them as
  // options, since given both ways it would warn on every start.
  const url = new URL(o.url!);
  const username = url.username ? decodeURIComponent(url.username) : (o.username ?? 'default');
  const password = url.password ? decodeURIComponent(url.password) : (o.password ?? '');
  url.username = '';
  url.password = '';
  // One session, so SET and temporary tables last across statements (as with chdb and DuckDB).
  const sessionId = `learnpipe-${process.pid}-${Date.now()}`;
  const timeout = o.sessionTimeout ?? SESSION_TIMEOUT_S;
  const client = createClient({
    url: url.toString(),
    database: o.database ?? 'default',
    username,
    password,
    session_id: sessionId,
    request_timeout: 3_600_000,
    clickhouse_settings: {
      // On every request, not only SET once: should the session ever be lost, no statement runs
      // without the NULL semantics and synchronous mutations the stage code relies on.
      ...SESSION_SETTINGS,
      // A session (its temporary tables) lasts an hour between two statements, not the server's
      // default 60 s: the client may compute for minutes between statements (SMOTE, the baseline model).
      session_timeout: String(timeout),
      output_format_json_quote_64bit_integers: 1,
      // A feature build can run for minutes without sending a byte: progress headers every 100 s keep
      // the connection alive through proxies and load balancers that drop idle ones (often after 120 s).
      send_progress_in_http_headers: 1,
      http_headers_progress_interval_ms: '100000',
    },
    log: { LoggerClass: ClientLog },
  });
  // After the first statement, every request requires the session to exist (session_check): an expired
  // one would otherwise be replaced by a new, empty session, its temporary tables silently gone.
  let started = false;
  const run = async <T>(f: (settings: Settings) => Promise<T>): Promise<T> => {
    try {
      const r = await f(started ? { ...whole, session_check: 1 } : whole);
      started = true;
      return r;
    } catch (err) {
      if (started && /Session \S+ not found/.test((err as Error).message)) {
        throw new Error(
          `the ClickHouse session ended (idle for more than ${timeout} s, the server restarted, or a load balancer sent this request to another server): its temporary tables are gone; run the command again (against one server, not a load balancer)`,
          { cause: err },
        );
      }
      throw err;
    }
  };
  // The server sends a result once the query has finished (buffering it, in memory or its temp files):
  // an error after the first rows would otherwise reach the client as a bare "aborted" (the HTTP status
  // is sent with the first bytes), losing ClickHouse's message.
  const whole: Settings = { wait_end_of_query: 1 };
  return {
    async exec(sql, params) {
      await run((s) => client.command({ query: sql, query_params: params, clickhouse_settings: s }));
    },
    async query(sql, params) {
      return run(async (s) => (await client.query({ query: sql, query_params: params, format: 'JSONCompactEachRowWithNamesAndTypes', clickhouse_settings: s })).text());
    },
    async exportTo(sql, params, format, file) {
      await run(async (s) => {
        const rs = await client.exec({ query: `${sql} FORMAT ${format}`, query_params: params, clickhouse_settings: s });
        await pipeline(rs.stream, createWriteStream(file));
      });
    },
    async insertParquet(table, columns, file) {
      // Opened first: a missing or unreadable file is this call's error, not an uncaught stream error.
      const values = createReadStream(file);
      await once(values, 'open');
      await run((s) => client.insert({ table, values, format: 'Parquet', columns: columns as [string, ...string[]], clickhouse_settings: s }));
    },
    async insertRows(table, rows) {
      // One JSON array per row, by position (as INSERT … VALUES); 64-bit integers as text, as ClickHouse reads them.
      const values = rows.map((r) => r.map((v) => (typeof v === 'bigint' ? v.toString() : v)));
      await run((s) => client.insert({ table, values, format: 'JSONCompactEachRow', clickhouse_settings: s }));
    },
    async close() {
      await client.close();
    },
  };
}

/**
 * Why engine.clickhouse.cluster is refused. The stages delete, truncate and update rows of shared
 * tables, and read them in correlated subqueries; on Distributed tables ClickHouse refuses lightweight
 * DELETE ("DELETE query is not supported for table …", at the warehouse's creation already) and
 * correlated subqueries ("… not supported with remote tables", in incremental tile updates).
 */
export const CLUSTER_UNSUPPORTED = (cluster: string) =>
  `engine.clickhouse.cluster (${cluster}) is not supported yet: on Distributed tables ClickHouse has no lightweight DELETE and no correlated subqueries, which creating the warehouse, incremental tiles and labels use; ` +
  'point engine.clickhouse.url at one server of the cluster without `cluster:` (plain MergeTree tables on that server; docs/engines.md)';

export class ClickHouseEngine implements Engine {
  readonly dialect: ClickHouseDialect;
  private constructor(
    readonly location: string,
    private readonly transport: Transport,
    cluster: string | null,
    /** chdb reads local files in place; a server would need their bytes sent (not done: ingest with chdb or DuckDB and copy). */
    readonly readsLocalFiles: boolean,
  ) {
    this.dialect = new ClickHouseDialect(cluster);
  }

  static async open(o: ClickHouseOptions): Promise<ClickHouseEngine> {
    // Refused rather than failing halfway: see CLUSTER_UNSUPPORTED (checked on a local server whose tables
    // were laid out as on a cluster, docs/engines.md).
    if (o.cluster) throw new EngineSetupError(CLUSTER_UNSUPPORTED(o.cluster));
    let transport: Transport;
    let location: string;
    if (o.mode === 'chdb') {
      if (!o.path) throw new EngineSetupError('the chdb engine needs a data folder (engine.clickhouse.path)');
      transport = chdbTransport(o.path);
      location = `chdb:${o.path}`;
    } else {
      if (!o.url) throw new EngineSetupError('the ClickHouse server engine needs a URL (engine.clickhouse.url or LEARNPIPE_CLICKHOUSE_URL)');
      // (Not echoed: it may hold a password.)
      if (!URL.canParse(o.url) || !/^https?:$/.test(new URL(o.url).protocol)) {
        throw new EngineSetupError('the ClickHouse server URL (engine.clickhouse.url or LEARNPIPE_CLICKHOUSE_URL) is not an http:// or https:// URL');
      }
      transport = await serverTransport(o);
      // The URL without credentials (they never reach logs or outputs).
      const u = new URL(o.url);
      u.username = '';
      u.password = '';
      location = `${u.toString()}${o.database ?? 'default'}`;
    }
    const engine = new ClickHouseEngine(location, transport, o.cluster ?? null, o.mode === 'chdb');
    try {
      // chdb keeps the session's settings once SET; a server receives them with every request
      // (serverTransport), so there one statement checks the connection, the credentials and the database.
      if (o.mode === 'chdb') {
        for (const [k, v] of Object.entries(SESSION_SETTINGS)) await engine.run(`SET ${k} = ${typeof v === 'number' ? v : engine.dialect.quoteString(v)}`);
      } else await engine.run(`SELECT 1`);
    } catch (err) {
      await engine.close();
      if (err instanceof EngineSetupError) throw err;
      const message = (err as Error).message.split('\n')[0].trim();
      // learnpipe creates its tables, not the database (that takes rights a pipeline's user rarely has).
      const hint = o.mode === 'server' && /Database \S+ does not exist/.test(message) ? ` (create it first: CREATE DATABASE ${engine.dialect.quoteIdent(o.database ?? 'default')})` : '';
      throw new EngineSetupError(`cannot open the ClickHouse warehouse ${location}: ${message}${hint}`, { cause: err });
    }
    return engine;
  }

  private async timed<T>(sql: string, fn: () => Promise<T>): Promise<T> {
    const t0 = TRACE ? performance.now() : 0;
    try {
      return await fn();
    } catch (err) {
      throw new EngineError(`${(err as Error).message}\n--- while running:\n${sql.trim().slice(0, 2000)}`, sql, { cause: err });
    } finally {
      if (TRACE) process.stderr.write(`sql ${((performance.now() - t0) / 1000).toFixed(3)}s ${sql.replace(/\s+/g, ' ').trim().slice(0, 140)}\n`);
    }
  }

  async run(sql: string, params?: SqlParams): Promise<void> {
    const b = bindPlaceholders(sql, params);
    await this.timed(sql, () => this.transport.exec(b.sql, b.values));
  }

  async all<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T[]> {
    const b = bindPlaceholders(sql, params);
    return parseRows(await this.timed(sql, () => this.transport.query(b.sql, b.values))) as T[];
  }

  async one<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async appendRows(table: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    const insertRows = this.transport.insertRows?.bind(this.transport);
    if (insertRows) {
      const BATCH = 50_000;
      const name = this.dialect.quoteIdent(table);
      for (let i = 0; i < rows.length; i += BATCH) await this.timed(`INSERT INTO ${name} FORMAT JSONCompactEachRow (${rows.length} rows)`, () => insertRows(name, rows.slice(i, i + BATCH)));
      return;
    }
    // Batches of typed placeholders: values stay bound, and one INSERT carries many rows.
    const BATCH = 500;
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH);
      const params: Record<string, SqlValue> = {};
      const tuples = batch.map((row, r) => `(${row.map((v, c) => ((params[`r${r}c${c}`] = v), `$r${r}c${c}`)).join(', ')})`);
      await this.run(`INSERT INTO ${this.dialect.quoteIdent(table)} VALUES ${tuples.join(', ')}`, params);
    }
  }

  async exportTo(select: string, file: string, format: 'parquet' | 'csv', params?: SqlParams): Promise<void> {
    const b = bindPlaceholders(select, params);
    // zstd as DuckDB writes; one writer thread keeps row groups, and so the bytes, the same run to run.
    const settings = ` SETTINGS output_format_parquet_compression_method = 'zstd', max_threads = 1`;
    await this.timed(select, () => this.transport.exportTo(b.sql + settings, b.values, format === 'parquet' ? 'Parquet' : 'CSVWithNames', file));
  }

  /** Appends the rows of a local Parquet file (columns by name) to a table. */
  async insertParquet(table: string, columns: string[], file: string): Promise<void> {
    for (const c of [table, ...columns]) assertIdentifier(c, 'table or column name');
    await this.timed(`INSERT INTO ${table} … Parquet ${file}`, () => this.transport.insertParquet(table, columns, file));
  }

  progress() {
    return undefined;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
