/**
 * Shared types for the numeric model core. Everything here is plain data so
 * that fitted artefacts survive `JSON.parse(JSON.stringify(x))` unchanged.
 */

/** One raw feature value. `null`, `undefined` and non-finite numbers are "missing". */
export type Cell = number | string | boolean | null | undefined;

/** Row-major input: `rows[i][j]` is feature `featureNames[j]` of row `i`. */
export type RowMajor = ReadonlyArray<ReadonlyArray<Cell>>;

/**
 * Column-major input: either one column per feature in `featureNames` order,
 * or a record keyed by feature name. Columns may be typed arrays.
 */
export interface ColumnMajor {
  columns: ReadonlyArray<ArrayLike<Cell>> | Readonly<Record<string, ArrayLike<Cell>>>;
}

export type FeatureMatrix = RowMajor | ColumnMajor;

/** A dense numeric design matrix, row-major: `data[i * nCols + j]`. */
export interface DesignMatrix {
  data: Float64Array;
  nRows: number;
  nCols: number;
  /** Column names (after preprocessing: one-hot / indicator names). */
  names: string[];
}

/** Error raised for invalid input or degenerate data; `code` is stable for callers. */
export class ModelError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ModelError';
    this.code = code;
  }
}

export function isColumnMajor(x: FeatureMatrix): x is ColumnMajor {
  return !Array.isArray(x) && typeof x === 'object' && x !== null && 'columns' in x;
}

/** Number of rows of a feature matrix (checks column lengths agree). */
export function matrixRowCount(x: FeatureMatrix, featureNames: readonly string[]): number {
  if (!isColumnMajor(x)) return (x as RowMajor).length;
  const cols = resolveColumns(x, featureNames);
  if (cols.length === 0) {
    throw new ModelError('NO_COLUMNS', 'column-major input has no columns; cannot infer the row count');
  }
  const n = cols[0].length;
  for (let j = 1; j < cols.length; j++) {
    if (cols[j].length !== n) {
      throw new ModelError(
        'RAGGED_COLUMNS',
        `column "${featureNames[j]}" has ${cols[j].length} values but "${featureNames[0]}" has ${n}`,
      );
    }
  }
  return n;
}

/** Columns of a column-major matrix, in `featureNames` order. */
export function resolveColumns(x: ColumnMajor, featureNames: readonly string[]): ArrayLike<Cell>[] {
  const c = x.columns;
  if (Array.isArray(c)) {
    if (c.length !== featureNames.length) {
      throw new ModelError(
        'COLUMN_COUNT',
        `column-major input has ${c.length} columns but ${featureNames.length} feature names`,
      );
    }
    return c as ArrayLike<Cell>[];
  }
  const rec = c as Readonly<Record<string, ArrayLike<Cell>>>;
  return featureNames.map((name) => {
    const col = rec[name];
    if (col === undefined) throw new ModelError('MISSING_COLUMN', `input has no column named "${name}"`);
    return col;
  });
}

/**
 * Uniform, copy-free view of either layout: cell (i, j) is
 * `rows ? rows[i][j] : cols[j][i]`. Validates row lengths / column lengths.
 */
export interface CellGrid { nRows: number; rows: RowMajor | null; cols: ArrayLike<Cell>[] | null }

export function cellGrid(x: FeatureMatrix, featureNames: readonly string[]): CellGrid {
  if (isColumnMajor(x)) {
    const cols = resolveColumns(x, featureNames);
    return { nRows: matrixRowCount(x, featureNames), rows: null, cols };
  }
  const rows = x as RowMajor;
  if (!Array.isArray(rows)) throw new ModelError('BAD_MATRIX', 'X must be an array of rows or { columns }');
  const p = featureNames.length;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!r || r.length !== p) {
      throw new ModelError('ROW_LENGTH', `row ${i} has ${r ? r.length : 0} values but there are ${p} feature names`);
    }
  }
  return { nRows: rows.length, rows, cols: null };
}
