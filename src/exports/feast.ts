/**
 * A Feast feature repository over learnpipe's Parquet outputs, so a team on Feast can `feast apply` it.
 *
 * Writes two files into `dir`:
 *  - `feature_store.yaml`: project, file registry `data/registry.db`, provider `local`, SQLite online store
 *    `data/online_store.db`, `entity_key_serialization_version: 3` (the layout `feast init` produces today;
 *    Feast creates `data/` itself on `feast apply`).
 *  - `features.py`: one Entity per join key (Feast before 0.55 allows a single join key per entity, so a
 *    composite key such as user_id + course_id becomes two entities that every feature view lists), and per
 *    feature view a FileSource(path, timestamp_field) and a FeatureView(schema=[Field(name, dtype)]) in the
 *    current typed API (`feast.types`).
 *
 * Relative Parquet paths are resolved in Python against the folder holding features.py (not the working
 * directory), so the repository can be applied from anywhere and the generated text holds no absolute
 * machine paths. Absolute paths and URIs (s3://…, gs://…) are written as given.
 *
 * The text is a pure function of the spec (no timestamps, no machine paths, stable order: entities in
 * join-key order, views and fields in the given order), ASCII only, with "\n" line endings.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type FeastFieldType = 'int64' | 'float64' | 'string' | 'bool';

export interface FeastFeature {
  name: string;
  type: FeastFieldType;
  description?: string;
}

export interface FeastFeatureView {
  name: string;
  /** Parquet file, relative to the repository folder or absolute (or a URI). */
  parquetPath: string;
  /** Feature time-to-live in days; omitted means no expiry. */
  ttlDays?: number;
  description?: string;
  features: FeastFeature[];
}

export interface FeastRepoSpec {
  /** Letters, digits and underscores, starting with a letter. */
  project: string;
  entity: {
    name: string;
    join_keys: string[];
    description?: string;
    /** Type of every join key. Default 'string' (learnpipe ids are pseudonym strings). */
    valueType?: 'string' | 'int64';
  };
  /** Event-time column of every Parquet file (e.g. the spine's `cutoff`); must be a timestamp column. */
  timestampField: string;
  featureViews: FeastFeatureView[];
}

export interface FeastRepoFiles {
  'feature_store.yaml': string;
  'features.py': string;
}

export class FeastSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeastSpecError';
  }
}

const DTYPES: Record<FeastFieldType, string> = { int64: 'Int64', float64: 'Float64', string: 'String', bool: 'Bool' };
const DTYPE_ORDER = ['Bool', 'Float64', 'Int64', 'String'];

/** A double-quoted, ASCII-only Python string literal. */
export function pyString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xff) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp <= 0xffff) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** A Python identifier derived from a name (callers add a suffix, so keywords cannot occur). */
function ident(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function pyNumber(n: number): string {
  // JS renders integers without a point and fractions with one; both are valid Python literals.
  return String(n);
}

function isAbsoluteOrUri(p: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p) || path.posix.isAbsolute(p) || path.win32.isAbsolute(p);
}

function validate(spec: FeastRepoSpec): void {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(spec.project)) {
    throw new FeastSpecError(`Feast project name must be letters, digits and underscores, starting with a letter; got ${JSON.stringify(spec.project)}`);
  }
  const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  if (!NAME.test(spec.entity?.name ?? '')) {
    throw new FeastSpecError(`entity.name must be letters, digits and underscores, not starting with a digit; got ${JSON.stringify(spec.entity?.name)}`);
  }
  const keys = spec.entity.join_keys ?? [];
  if (keys.length === 0) throw new FeastSpecError('entity.join_keys needs at least one column');
  if (new Set(keys).size !== keys.length) throw new FeastSpecError('entity.join_keys has duplicates');
  if (keys.some((k) => !k)) throw new FeastSpecError('entity.join_keys has an empty name');
  if (spec.entity.valueType !== undefined && spec.entity.valueType !== 'string' && spec.entity.valueType !== 'int64') {
    throw new FeastSpecError(`entity.valueType must be 'string' or 'int64', got ${JSON.stringify(spec.entity.valueType)}`);
  }
  if (!spec.timestampField) throw new FeastSpecError('timestampField is required');
  if (keys.includes(spec.timestampField)) throw new FeastSpecError('timestampField cannot also be a join key');
  if (!spec.featureViews?.length) throw new FeastSpecError('at least one feature view is required');
  const seen = new Set<string>();
  for (const fv of spec.featureViews) {
    if (!NAME.test(fv.name ?? '')) {
      throw new FeastSpecError(`feature view name must be letters, digits and underscores, not starting with a digit; got ${JSON.stringify(fv.name)}`);
    }
    if (seen.has(fv.name)) throw new FeastSpecError(`feature view ${fv.name} appears twice`);
    seen.add(fv.name);
    if (!fv.parquetPath) throw new FeastSpecError(`feature view ${fv.name}: parquetPath is required`);
    if (fv.ttlDays !== undefined && !(Number.isFinite(fv.ttlDays) && fv.ttlDays >= 0)) {
      throw new FeastSpecError(`feature view ${fv.name}: ttlDays must be a number >= 0, got ${fv.ttlDays}`);
    }
    if (!fv.features?.length) throw new FeastSpecError(`feature view ${fv.name}: needs at least one feature`);
    const names = new Set<string>();
    for (const f of fv.features) {
      if (!f.name) throw new FeastSpecError(`feature view ${fv.name}: a feature has no name`);
      if (names.has(f.name)) throw new FeastSpecError(`feature view ${fv.name}: feature ${f.name} appears twice`);
      names.add(f.name);
      if (!(f.type in DTYPES)) throw new FeastSpecError(`feature view ${fv.name}: feature ${f.name} has unsupported type ${JSON.stringify(f.type)}`);
      if (keys.includes(f.name) || f.name === spec.timestampField) {
        throw new FeastSpecError(`feature view ${fv.name}: ${f.name} is a join key or the timestamp field, not a feature`);
      }
    }
  }
}

interface EntityDef {
  name: string;
  joinKey: string;
  variable: string;
}

function entities(spec: FeastRepoSpec): EntityDef[] {
  const keys = spec.entity.join_keys;
  if (keys.length === 1) return [{ name: spec.entity.name, joinKey: keys[0], variable: `${ident(spec.entity.name)}_entity` }];
  return keys.map((k) => {
    const name = `${spec.entity.name}_${k}`;
    return { name, joinKey: k, variable: `${ident(name)}_entity` };
  });
}

export function renderFeatureStoreYaml(spec: FeastRepoSpec): string {
  validate(spec);
  return [
    '# Generated by learnpipe; regenerate rather than edit.',
    `project: ${spec.project}`,
    'registry: data/registry.db',
    'provider: local',
    'online_store:',
    '    type: sqlite',
    '    path: data/online_store.db',
    'entity_key_serialization_version: 3',
    '',
  ].join('\n');
}

export function renderFeaturesPy(spec: FeastRepoSpec): string {
  validate(spec);
  const ents = entities(spec);
  const valueType = spec.entity.valueType === 'int64' ? 'ValueType.INT64' : 'ValueType.STRING';
  const usedTypes = new Set(spec.featureViews.flatMap((fv) => fv.features.map((f) => DTYPES[f.type])));
  const anyTtl = spec.featureViews.some((fv) => fv.ttlDays !== undefined);
  const anyRelative = spec.featureViews.some((fv) => !isAbsoluteOrUri(fv.parquetPath));

  const L: string[] = [];
  L.push('# Generated by learnpipe; regenerate rather than edit.');
  L.push(`# Feast feature repository for project ${spec.project}: run \`feast apply\` in this folder.`);
  if (anyTtl) L.push('from datetime import timedelta');
  if (anyRelative) L.push('from pathlib import Path');
  if (anyTtl || anyRelative) L.push('');
  L.push('from feast import Entity, FeatureView, Field, FileSource');
  L.push(`from feast.types import ${DTYPE_ORDER.filter((t) => usedTypes.has(t)).join(', ')}`);
  L.push('from feast.value_type import ValueType');
  L.push('');
  if (anyRelative) {
    L.push('# Relative Parquet paths are resolved against this folder, whatever the working directory.');
    L.push('REPO_DIR = Path(__file__).resolve().parent');
    L.push('');
  }
  for (const e of ents) {
    L.push(`${e.variable} = Entity(`);
    L.push(`    name=${pyString(e.name)},`);
    L.push(`    join_keys=[${pyString(e.joinKey)}],`);
    L.push(`    value_type=${valueType},`);
    if (spec.entity.description !== undefined) L.push(`    description=${pyString(spec.entity.description)},`);
    L.push(')');
    L.push('');
  }
  for (const fv of spec.featureViews) {
    const id = ident(fv.name);
    const p = fv.parquetPath;
    const pathExpr = isAbsoluteOrUri(p) ? pyString(p) : `str((REPO_DIR / ${pyString(p)}).resolve())`;
    L.push(`${id}_source = FileSource(`);
    L.push(`    name=${pyString(`${fv.name}_source`)},`);
    L.push(`    path=${pathExpr},`);
    L.push(`    timestamp_field=${pyString(spec.timestampField)},`);
    L.push(')');
    L.push('');
    L.push(`${id}_view = FeatureView(`);
    L.push(`    name=${pyString(fv.name)},`);
    L.push(`    entities=[${ents.map((e) => e.variable).join(', ')}],`);
    if (fv.ttlDays !== undefined) L.push(`    ttl=timedelta(days=${pyNumber(fv.ttlDays)}),`);
    L.push('    schema=[');
    for (const f of fv.features) {
      const desc = f.description !== undefined ? `, description=${pyString(f.description)}` : '';
      L.push(`        Field(name=${pyString(f.name)}, dtype=${DTYPES[f.type]}${desc}),`);
    }
    L.push('    ],');
    L.push(`    source=${id}_source,`);
    L.push('    online=True,');
    if (fv.description !== undefined) L.push(`    description=${pyString(fv.description)},`);
    L.push(')');
    L.push('');
  }
  return L.join('\n');
}

/** Both files' text, without touching the disk. */
export function renderFeastRepo(spec: FeastRepoSpec): FeastRepoFiles {
  return { 'feature_store.yaml': renderFeatureStoreYaml(spec), 'features.py': renderFeaturesPy(spec) };
}

/**
 * Writes feature_store.yaml and features.py into `dir` (created if missing; existing files overwritten).
 * Returns the paths written, in a fixed order.
 */
export function writeFeastRepo(dir: string, spec: FeastRepoSpec): string[] {
  const files = renderFeastRepo(spec);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const name of ['feature_store.yaml', 'features.py'] as const) {
    const p = path.join(dir, name);
    writeFileSync(p, files[name], 'utf8');
    written.push(p);
  }
  return written;
}
