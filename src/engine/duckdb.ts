// DuckDB through @duckdb/node-api: one instance and one connection per Engine, opened and closed
// explicitly. The session time zone is pinned to UTC so no result depends on the machine's zone.
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { Engine, Row, SqlParams, SqlValue } from './engine.js';
import { EngineError } from './engine.js';
import { DuckDBDialect } from './dialects/duckdb.js';

export interface DuckDBOptions {
  /** Worker threads; default: all cores (LEARNPIPE_THREADS overrides). */
  threads?: number;
  /** DuckDB memory limit, e.g. '2GB'; beyond it DuckDB spills to disk instead of growing. */
  memoryLimit?: string;
  /** Directory for spill files; default next to the warehouse. */
  tempDirectory?: string;
}

/** LEARNPIPE_TRACE_SQL=1 prints every statement with its duration (for profiling). */
const TRACE = Boolean(process.env.LEARNPIPE_TRACE_SQL);
/** LEARNPIPE_TRACE_SQL=full prints each statement whole (to rerun one by hand), not its first 140 characters. */
const TRACE_FULL = process.env.LEARNPIPE_TRACE_SQL === 'full';

function toJs(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(toJs);
  return value;
}

export class DuckDBEngine implements Engine {
  readonly dialect = new DuckDBDialect();
  private depth = 0;

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(path = ':memory:', opts: DuckDBOptions = {}): Promise<DuckDBEngine> {
    const config: Record<string, string> = {};
    const threads = opts.threads ?? (process.env.LEARNPIPE_THREADS ? Number(process.env.LEARNPIPE_THREADS) : undefined);
    if (threads) config.threads = String(threads);
    if (opts.memoryLimit) config.memory_limit = opts.memoryLimit;
    if (opts.tempDirectory) config.temp_directory = opts.tempDirectory;
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, config);
    } catch (err) {
      throw new Error(`cannot open the warehouse ${path}: ${(err as Error).message}`, { cause: err });
    }
    const conn = await instance.connect();
    const engine = new DuckDBEngine(path, instance, conn);
    await engine.run(`SET TimeZone = 'UTC'`);
    // Progress tracking (for learnpipe's own progress bar) is off until asked for (trackProgress); DuckDB's printed bar stays off.
    await engine.run(`SET enable_progress_bar_print = false`);
    return engine;
  }

  private async exec(sql: string, params?: SqlParams) {
    const t0 = TRACE ? performance.now() : 0;
    const cpu0 = TRACE ? process.cpuUsage() : undefined;
    try {
      return await this.conn.runAndReadAll(sql, params as DuckDBValue[] | Record<string, DuckDBValue> | undefined);
    } catch (err) {
      throw new EngineError(`${(err as Error).message}\n--- while running:\n${sql.trim().slice(0, 2000)}`, sql, { cause: err });
    } finally {
      if (TRACE) {
        // CPU time (all threads of the process) next to wall time: on a busy machine it is the steadier figure.
        const cpu = process.cpuUsage(cpu0);
        process.stderr.write(`sql ${((performance.now() - t0) / 1000).toFixed(3)}s cpu ${((cpu.user + cpu.system) / 1e6).toFixed(3)}s ${sql.replace(/\s+/g, ' ').trim().slice(0, TRACE_FULL ? Infinity : 140)}\n`);
      }
    }
  }

  async run(sql: string, params?: SqlParams): Promise<void> {
    await this.exec(sql, params);
  }

  async all<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T[]> {
    const reader = await this.exec(sql, params);
    return reader.getRowObjectsJS().map((r) => {
      const o: Row = {};
      for (const [k, v] of Object.entries(r)) o[k] = toJs(v);
      return o as T;
    });
  }

  async one<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  /**
   * Progress tracking costs every statement: DuckDB then works out its progress after each task (on the
   * xAPI benchmark about 6% of all CPU time, measured with perf), so it is on only while a bar shows it.
   */
  async trackProgress(on: boolean): Promise<void> {
    await this.run(`SET enable_progress_bar = ${on ? 'true' : 'false'}`);
  }

  async withThreads<T>(threads: number, fn: () => Promise<T>): Promise<T> {
    const before = Number((await this.one<{ t: unknown }>(`SELECT current_setting('threads') AS t`))?.t);
    const n = Math.max(1, Math.floor(threads));
    if (!(before > n)) return fn();
    await this.run(`SET threads = ${n}`);
    try {
      return await fn();
    } finally {
      await this.run(`SET threads = ${before}`);
    }
  }

  progress() {
    try {
      const p = this.conn.progress;
      return { percentage: p.percentage, rowsProcessed: Number(p.rows_processed), totalRows: Number(p.total_rows_to_process) };
    } catch {
      return undefined;
    }
  }

  async exportTo(select: string, file: string, format: 'parquet' | 'csv', params?: SqlParams): Promise<void> {
    const options = format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : "HEADER, DELIMITER ','";
    await this.run(`COPY (${select}) TO ${this.dialect.quoteString(file)} (${options})`, params);
  }

  async appendRows(table: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    const appender = await this.conn.createAppender(table);
    try {
      for (const row of rows) {
        for (const v of row) {
          if (v === null || v === undefined) appender.appendNull();
          else if (typeof v === 'string') appender.appendVarchar(v);
          else if (typeof v === 'bigint') appender.appendBigInt(v);
          else if (typeof v === 'boolean') appender.appendBoolean(v);
          else if (Number.isInteger(v)) appender.appendBigInt(BigInt(v));
          else appender.appendDouble(v);
        }
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn(); // nested: the outer transaction decides
    await this.run('BEGIN TRANSACTION');
    this.depth++;
    try {
      const result = await fn();
      this.depth--;
      await this.run('COMMIT');
      return result;
    } catch (err) {
      this.depth--;
      try {
        await this.run('ROLLBACK');
      } catch {
        /* the original error matters more */
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
