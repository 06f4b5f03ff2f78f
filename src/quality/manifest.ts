// The run manifest: what went into a run and what came out, so an auditor can answer "which inputs
// produced this model?" months later and anyone can check the published files are intact.
//
// - buildManifest hashes every file in the output folder (sorted relative paths, bytes and SHA-256).
// - writeManifest writes manifest.json with sorted keys and 2-space indent: the same run gives the same bytes.
// - verifyManifest re-hashes the files next to a manifest and reports missing, changed and extra files.
// - configHash hashes the config as canonical JSON with every secret-looking key removed.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha256File } from '../sources/files.js';
import type { LoadResult } from '../normalize/load.js';
import type { ReportQaRow } from './report-model.js';

export { sha256File };

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;

export class ManifestError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ManifestError';
  }
}

/** One input of the run: a file (path + SHA-256) or a source read by watermark range. */
export interface ManifestInput {
  source: string;
  /** Path of the input file relative to the config folder, or null for a non-file source. */
  path: string | null;
  sha256: string | null;
  /** Watermark range read from a non-file (or incremental) source. */
  watermark: { from: string | null; to: string | null } | null;
  target?: string;
  rows_read: number;
  accepted: number;
  duplicates?: number;
  rejected: number;
}

export interface ManifestOutput {
  /** Relative to the manifest's folder, with `/` separators. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ManifestLabel {
  name: string;
  definition_hash: string;
}

export type ManifestQa = ReportQaRow;

export interface Manifest {
  manifest_version: number;
  run_id: string;
  as_of: string;
  learnpipe_version: string;
  config_hash: string;
  inputs: ManifestInput[];
  /** Watermark per source before and after the run. */
  watermarks: { before: Record<string, string | null>; after: Record<string, string | null> };
  /** Rows per stage (e.g. events, spine, labels, training). */
  stage_counts: Record<string, number>;
  labels: ManifestLabel[];
  qa: ManifestQa[];
  /** Pseudonym key fingerprint and rotation history (fingerprints only, never keys). */
  keys?: { pseudonym_key_id: string | null; rotations: unknown[] };
  outputs: ManifestOutput[];
}

export interface BuildManifestOptions {
  run_id: string;
  as_of: string;
  learnpipe_version: string;
  config_hash: string;
  inputs: ManifestInput[];
  watermarks: { before: Record<string, string | null>; after: Record<string, string | null> };
  stage_counts: Record<string, number>;
  labels: ManifestLabel[];
  qa: ManifestQa[];
  keys?: { pseudonym_key_id: string | null; rotations: unknown[] };
  /** The folder whose files are listed (every file except a top-level manifest.json). */
  outputs_dir: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Listed in the manifest, not on disk. */
  missing: string[];
  /** On disk with other bytes than the manifest lists. */
  changed: string[];
  /** On disk next to the manifest, not listed in it. */
  extra: string[];
  /** Files checked (listed in the manifest). */
  checked: number;
}

// ---------------------------------------------------------------------------------------------------
// Canonical JSON and the config hash

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Object keys sorted recursively (arrays keep their order); undefined values dropped as JSON does. */
export function sortKeysDeep<T>(value: T): T {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk);
    if (isPlainObject(x)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) out[k] = walk(x[k]);
      return out;
    }
    return x;
  };
  // A JSON round trip first: Dates become strings, undefined and functions disappear.
  const json = JSON.stringify(value);
  return (json === undefined ? undefined : walk(JSON.parse(json))) as T;
}

/** Compact JSON with sorted keys: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value)) ?? 'null';
}

const SECRET_WORDS = new Set(['key', 'keys', 'apikey', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'token', 'tokens']);

/**
 * Whether a config key names a secret (or where one comes from): any word of the name, split at
 * `_`, `-`, `.`, spaces and camelCase, is key/secret/password/token (`api_key`, `accessToken`,
 * `DB_PASSWORD`, `keys`); `keyboard` or `tokenizer` are not.
 */
export function isSecretKeyName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.toLowerCase())
    .filter(Boolean);
  return words.some((w) => SECRET_WORDS.has(w)) || SECRET_WORDS.has(name.replace(/[^A-Za-z0-9]/g, '').toLowerCase());
}

/** The config with every secret-looking key removed, at any depth. */
export function redactSecrets<T>(config: T): T {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk);
    if (isPlainObject(x)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(x)) if (!isSecretKeyName(k)) out[k] = walk(v);
      return out;
    }
    return x;
  };
  const json = JSON.stringify(config);
  return (json === undefined ? undefined : walk(JSON.parse(json))) as T;
}

/** SHA-256 (hex) of the canonical JSON of the config, secrets excluded: key order does not matter. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(redactSecrets(config))).digest('hex');
}

/** SHA-256 (hex) of any JSON value's canonical form (e.g. a label definition). */
export function jsonHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// Files

/** Every regular file under `dir`, as sorted `/`-separated relative paths (symlinks and others are refused). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of readdirSync(abs)) {
      const childRel = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(abs, name));
      if (st.isDirectory()) walk(childRel);
      else if (st.isFile()) out.push(childRel);
      else throw new ManifestError(`${path.join(abs, name)} is not a regular file (symlinks and special files cannot be listed in a manifest)`);
    }
  };
  walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function hashOutputs(dir: string): Promise<ManifestOutput[]> {
  const files = listFiles(dir).filter((f) => f !== MANIFEST_FILE);
  const out: ManifestOutput[] = [];
  for (const f of files) {
    const abs = path.join(dir, ...f.split('/'));
    out.push({ path: f, bytes: lstatSync(abs).size, sha256: await sha256File(abs) });
  }
  return out;
}

/** Map the ingest's per-file load results to manifest inputs. */
export function manifestInputsFromLoads(loads: LoadResult[]): ManifestInput[] {
  return loads.map((l) => ({
    source: l.source,
    path: l.input,
    sha256: l.sha256,
    watermark: l.watermark_before !== null || l.watermark_after !== null ? { from: l.watermark_before, to: l.watermark_after } : null,
    target: l.target,
    rows_read: l.rows_read,
    accepted: l.accepted,
    duplicates: l.duplicates,
    rejected: l.rejected,
  }));
}

/** The manifest of a run whose outputs are (all) in `outputs_dir`. Write it last, with writeManifest. */
export async function buildManifest(opts: BuildManifestOptions): Promise<Manifest> {
  return {
    manifest_version: MANIFEST_VERSION,
    run_id: opts.run_id,
    as_of: opts.as_of,
    learnpipe_version: opts.learnpipe_version,
    config_hash: opts.config_hash,
    inputs: opts.inputs.map((i) => ({ ...i })),
    watermarks: { before: { ...opts.watermarks.before }, after: { ...opts.watermarks.after } },
    stage_counts: { ...opts.stage_counts },
    labels: [...opts.labels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    qa: opts.qa.map((q) => ({ ...q })),
    ...(opts.keys ? { keys: { pseudonym_key_id: opts.keys.pseudonym_key_id, rotations: [...opts.keys.rotations] } } : {}),
    outputs: await hashOutputs(opts.outputs_dir),
  };
}

/** The manifest as written: sorted keys, 2-space indent, trailing newline. */
export function serializeManifest(manifest: Manifest): string {
  return JSON.stringify(sortKeysDeep(manifest), null, 2) + '\n';
}

/** Writes `dir/manifest.json` (via a temp file and a rename) and returns its path. */
export function writeManifest(dir: string, manifest: Manifest): string {
  const file = path.join(dir, MANIFEST_FILE);
  const tmp = path.join(dir, `.${MANIFEST_FILE}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, serializeManifest(manifest));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return file;
}

export function readManifest(manifestPath: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ManifestError(`cannot read manifest ${manifestPath}: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(parsed) || !Array.isArray(parsed.outputs)) throw new ManifestError(`${manifestPath} is not a learnpipe manifest (no outputs list)`);
  for (const o of parsed.outputs as unknown[]) {
    if (!isPlainObject(o) || typeof o.path !== 'string' || typeof o.sha256 !== 'string' || typeof o.bytes !== 'number') throw new ManifestError(`${manifestPath}: malformed output entry ${JSON.stringify(o)}`);
    if (o.path === '' || o.path.startsWith('/') || /^[A-Za-z]:/.test(o.path) || o.path.split(/[\\/]/).some((seg) => seg === '..' || seg === '.' || seg === '')) throw new ManifestError(`${manifestPath}: output path ${JSON.stringify(o.path)} leaves the manifest's folder`);
  }
  return parsed as unknown as Manifest;
}

/** Re-hashes the files next to a manifest: ok when none is missing, changed or extra. */
export async function verifyManifest(manifestPath: string): Promise<VerifyResult> {
  const manifest = readManifest(manifestPath);
  const dir = path.dirname(path.resolve(manifestPath));
  const own = path.basename(manifestPath);
  const onDisk = new Set(listFiles(dir).filter((f) => f !== own && f !== MANIFEST_FILE));
  const listed = new Set(manifest.outputs.map((o) => o.path));
  const missing: string[] = [];
  const changed: string[] = [];
  for (const o of manifest.outputs) {
    if (!onDisk.has(o.path)) {
      missing.push(o.path);
      continue;
    }
    const abs = path.join(dir, ...o.path.split('/'));
    if (lstatSync(abs).size !== o.bytes || (await sha256File(abs)) !== o.sha256) changed.push(o.path);
  }
  const extra = [...onDisk].filter((f) => !listed.has(f)).sort();
  missing.sort();
  changed.sort();
  return { ok: !missing.length && !changed.length && !extra.length, missing, changed, extra, checked: manifest.outputs.length };
}
