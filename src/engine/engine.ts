// The engine boundary: stage code plans SQL through a Dialect and runs it here. Everything heavy
// happens inside the engine; TypeScript only orchestrates and reads small results.
import type { Dialect } from './dialects/dialect.js';

/** A value bound to a query parameter ($1, $2 … or $name). Never interpolate values into SQL. */
export type SqlValue = string | number | boolean | bigint | null;
export type SqlParams = SqlValue[] | Record<string, SqlValue>;
export type Row = Record<string, unknown>;

export interface Engine {
  readonly dialect: Dialect;
  /** Human-readable location of the warehouse (a file path or ':memory:'). */
  readonly location: string;
  /** False when the engine runs elsewhere (a server) and cannot read this machine's files. */
  readonly readsLocalFiles?: boolean;
  run(sql: string, params?: SqlParams): Promise<void>;
  all<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T[]>;
  one<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T | undefined>;
  /**
   * Writes a query's rows to a local file: Parquet (zstd) or CSV with a header. The query must order its
   * rows (ORDER BY) for the file to be the same bytes run after run.
   */
  exportTo(select: string, file: string, format: 'parquet' | 'csv', params?: SqlParams): Promise<void>;
  /** Appends rows of strings/nulls to a table in bulk (e.g. a small key map computed in JS). */
  appendRows(table: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void>;
  /** Progress of the statement running now, when the engine can tell and tracks it (for progress bars). */
  progress(): { percentage: number; rowsProcessed: number; totalRows: number } | undefined;
  /** Turns progress tracking on or off (engines that track at a cost do so only while asked). */
  trackProgress?(on: boolean): Promise<void>;
  /** Runs fn with the engine on at most `threads` threads (engines whose thread count can change), restored after. */
  withThreads?<T>(threads: number, fn: () => Promise<T>): Promise<T>;
  /** Runs fn inside one transaction: all its writes land together or not at all. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class EngineError extends Error {
  constructor(message: string, readonly sql: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
  }
}

/** The engine cannot do what was asked as configured (a missing optional package, no server URL, a stage it does not run yet): a usage error. */
export class EngineSetupError extends Error {
  override name = 'EngineSetupError';
}
