// The PII vault: the direct identifiers (employee ids, emails) and PII columns (names, phone numbers,
// addresses, dates of birth, sensitive free text) a source carries are kept here, never in the
// warehouse. The vault is one file encrypted with AES-256-GCM; only holders of the vault key can read
// it, and every lookup is written to an access log inside the encrypted body.
//
// File format (version 1):
//   line 1   LEARNPIPE-VAULT/1
//   line 2   JSON header {"version":1,"key_id":"<16 hex>","iv":"<base64, 12 bytes>","tag":"<base64, 16 bytes>"}
//   rest     AES-256-GCM ciphertext of the UTF-8 JSON body
//            {"records": {"<pseudonym>": {"kind"?, "identifiers": {kind: raw}, "fields": {source: {column: value}}}},
//             "access_log": [{"who","at","pseudonym","purpose"?, "found"}]}
//
// - key_id = first 16 hex of HMAC-SHA256(key, "learnpipe-vault-key-id"). It is checked BEFORE
//   decrypting, so a wrong key fails with a clear message and no decryption is attempted. The id is a
//   one-way function of the key and says nothing about it.
// - The AES key is HMAC-SHA256(key, "learnpipe-vault-aes-256-gcm"), so the key id and the cipher key
//   are independent values.
// - The magic line and the header fields (version, key_id, iv) are authenticated as GCM additional
//   data: changing any byte of the header or the ciphertext makes decryption fail ("damaged or was
//   tampered with").
// - A fresh random 96-bit IV is drawn for every save.
// - Saves are atomic (temp file in the same folder, fsync, rename) and the file is owner-only (0600).
//
// Error messages never contain the key, the plaintext, or identifiers held in the vault.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { loadKey, type KeySource } from './keys.js';
import type { Engine } from '../engine/engine.js';
import type { Pseudonymizer } from './pseudonym.js';
import { assertIdentifier } from '../engine/dialects/dialect.js';

export const VAULT_MAGIC = 'LEARNPIPE-VAULT/1';
export const VAULT_VERSION = 1;
/** Default place the vault key is looked for when the config names none. */
export const DEFAULT_VAULT_KEY_SOURCE: KeySource = { env: 'LEARNPIPE_VAULT_KEY' };

export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

export interface VaultRecord {
  /** The kind of the pseudonymised key the record is filed under (employee_id, email, moodle_id, …), when known. */
  kind?: string;
  /** Raw identifiers by kind, e.g. {employee_id: "E123", email: "a@b.org"}; used to re-derive pseudonyms on key rotation. */
  identifiers: Record<string, string>;
  /** PII column values by source, then column. */
  fields: Record<string, Record<string, string | null>>;
}

export interface AccessLogEntry {
  /** Who looked (an operator name, e.g. $USER or --who). */
  who: string;
  /** ISO-8601 UTC time of the access. */
  at: string;
  /** The pseudonym looked up ('*' for whole-vault operations such as key rotation). */
  pseudonym: string;
  /** Why (free text, e.g. a ticket number). */
  purpose?: string;
  /** Whether a record was found. */
  found?: boolean;
}

interface VaultBody {
  records: Record<string, VaultRecord>;
  access_log: AccessLogEntry[];
}

interface VaultHeader {
  version: number;
  key_id: string;
  iv: string;
  tag: string;
}

/** The public identifier of a vault key: first 16 hex of HMAC-SHA256(key, 'learnpipe-vault-key-id'). */
export function vaultKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('learnpipe-vault-key-id').digest('hex').slice(0, 16);
}

function cipherKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update('learnpipe-vault-aes-256-gcm').digest();
}

function aad(version: number, keyId: string, iv: string): Buffer {
  return Buffer.from(`${VAULT_MAGIC}\n${JSON.stringify({ version, key_id: keyId, iv })}`, 'utf8');
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new VaultError('a vault key must be at least 32 bytes (create one with `learnpipe keys create --out keys/vault.key`)');
}

/** Loads the vault key (env wins over the file). The vault key must not be the pseudonym key. */
export function loadVaultKey(source: KeySource | undefined, baseDir: string, pseudonymKey?: Buffer): Buffer {
  const key = loadKey(source ?? DEFAULT_VAULT_KEY_SOURCE, baseDir, 'vault');
  if (pseudonymKey && pseudonymKey.length === key.length && timingSafeEqual(pseudonymKey, key)) {
    throw new VaultError('the vault key is the same as the pseudonym key; use separate keys (`learnpipe keys create --out keys/vault.key`)');
  }
  return key;
}

function damaged(file: string, why: string): VaultError {
  return new VaultError(`${file}: vault file is damaged or was tampered with (${why}); restore it from a backup`);
}

/** Parses and decrypts a vault file: key id first, then GCM authentication. */
function readVaultFile(file: string, key: Buffer): VaultBody {
  const bytes = readFileSync(file);
  const nl1 = bytes.indexOf(0x0a);
  if (nl1 < 0 || bytes.subarray(0, nl1).toString('utf8') !== VAULT_MAGIC) {
    throw new VaultError(`${file} is not a learnpipe vault (or is damaged): it does not start with ${VAULT_MAGIC}`);
  }
  const nl2 = bytes.indexOf(0x0a, nl1 + 1);
  if (nl2 < 0) throw damaged(file, 'no header');
  let header: VaultHeader;
  try {
    header = JSON.parse(bytes.subarray(nl1 + 1, nl2).toString('utf8')) as VaultHeader;
  } catch {
    throw damaged(file, 'unreadable header');
  }
  if (!header || typeof header !== 'object' || typeof header.key_id !== 'string' || typeof header.iv !== 'string' || typeof header.tag !== 'string') {
    throw damaged(file, 'incomplete header');
  }
  if (header.version !== VAULT_VERSION) {
    throw new VaultError(`${file}: vault format version ${JSON.stringify(header.version)} is not supported by this learnpipe (expected ${VAULT_VERSION})`);
  }
  if (header.key_id !== vaultKeyId(key)) {
    throw new VaultError(
      `${file}: this key does not open the vault (key id mismatch). Use the vault key the vault was created with ` +
        `(LEARNPIPE_VAULT_KEY or the configured vault key file); nothing was decrypted.`,
    );
  }
  const iv = Buffer.from(header.iv, 'base64');
  const tag = Buffer.from(header.tag, 'base64');
  if (iv.length !== 12 || tag.length !== 16) throw damaged(file, 'bad iv or tag');
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', cipherKey(key), iv, { authTagLength: 16 });
    d.setAAD(aad(header.version, header.key_id, header.iv));
    d.setAuthTag(tag);
    plain = Buffer.concat([d.update(bytes.subarray(nl2 + 1)), d.final()]);
  } catch {
    throw damaged(file, 'authentication failed');
  }
  let body: VaultBody;
  try {
    body = JSON.parse(plain.toString('utf8')) as VaultBody;
  } catch {
    throw damaged(file, 'unreadable body');
  } finally {
    plain.fill(0);
  }
  if (!body || typeof body.records !== 'object' || !Array.isArray(body.access_log)) throw damaged(file, 'unexpected body');
  return body;
}

function encryptBody(body: VaultBody, key: Buffer): Buffer {
  const keyId = vaultKeyId(key);
  const ivBuf = randomBytes(12);
  const iv = ivBuf.toString('base64');
  const c = createCipheriv('aes-256-gcm', cipherKey(key), ivBuf, { authTagLength: 16 });
  c.setAAD(aad(VAULT_VERSION, keyId, iv));
  const plain = Buffer.from(JSON.stringify(body), 'utf8');
  const ct = Buffer.concat([c.update(plain), c.final()]);
  plain.fill(0);
  const header: VaultHeader = { version: VAULT_VERSION, key_id: keyId, iv, tag: c.getAuthTag().toString('base64') };
  return Buffer.concat([Buffer.from(`${VAULT_MAGIC}\n${JSON.stringify(header)}\n`, 'utf8'), ct]);
}

/** Writes bytes to `file` atomically with owner-only permissions. */
function writeAtomic(file: string, bytes: Buffer): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* directory fsync is best effort (not supported everywhere) */
  }
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export class Vault {
  private dirty = false;

  private constructor(
    /** Absolute path of the vault file. */
    readonly file: string,
    private key: Buffer,
    private body: VaultBody,
    /** True when the file did not exist and an empty vault was created in memory. */
    readonly created: boolean,
  ) {}

  /** Opens the vault at `file` with `key`; an empty vault (not yet written) when the file does not exist. */
  static open(file: string, key: Buffer): Vault {
    checkKey(key);
    const abs = path.resolve(file);
    if (!existsSync(abs)) return new Vault(abs, Buffer.from(key), { records: {}, access_log: [] }, true);
    return new Vault(abs, Buffer.from(key), readVaultFile(abs, key), false);
  }

  /** Discards unsaved changes and re-reads the vault from its file (empty when the file is gone). */
  reload(): void {
    this.body = existsSync(this.file) ? readVaultFile(this.file, this.key) : { records: {}, access_log: [] };
    this.dirty = false;
  }

  /** The public id of the key this vault is encrypted with. */
  get keyId(): string {
    return vaultKeyId(this.key);
  }

  get size(): number {
    return Object.keys(this.body.records).length;
  }

  /** True when there are changes not yet saved. */
  get modified(): boolean {
    return this.dirty;
  }

  has(pseudonym: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.body.records, pseudonym);
  }

  /**
   * Files PII for a pseudonym: `fields` replaces the columns it names for `source` (other columns and
   * sources are kept); `identifiers` (kind → raw value) are merged in.
   */
  put(pseudonym: string, source: string, fields: Record<string, string | null>, identifiers?: Record<string, string>, kind?: string): void {
    if (!pseudonym) throw new VaultError('a vault record needs a pseudonym');
    let rec = this.body.records[pseudonym];
    if (!rec) {
      rec = { identifiers: {}, fields: {} };
      this.body.records[pseudonym] = rec;
    }
    if (kind) rec.kind = kind;
    if (identifiers) for (const [k, v] of Object.entries(identifiers)) if (v !== null && v !== undefined && v !== '') rec.identifiers[k] = String(v);
    if (Object.keys(fields).length) rec.fields[source] = { ...(rec.fields[source] ?? {}), ...fields };
    this.dirty = true;
  }

  /** Removes a person's record (e.g. an erasure request); the access log keeps that it happened. */
  remove(pseudonym: string, who: string, purpose?: string): boolean {
    const had = this.has(pseudonym);
    delete this.body.records[pseudonym];
    this.body.access_log.push({ who, at: new Date().toISOString(), pseudonym, purpose: `erase${purpose ? ': ' + purpose : ''}`, found: had });
    this.dirty = true;
    return had;
  }

  /**
   * Looks a pseudonym up. Every lookup (found or not) is appended to the access log and the vault is
   * saved before the record is returned, so no read goes unrecorded.
   */
  lookup(pseudonym: string, who: string, purpose?: string): VaultRecord | undefined {
    if (!who || !who.trim()) throw new VaultError('a vault lookup must say who is looking (--who or $USER)');
    const rec = this.body.records[pseudonym];
    const entry: AccessLogEntry = { who: who.trim(), at: new Date().toISOString(), pseudonym, found: rec !== undefined };
    if (purpose) entry.purpose = purpose;
    this.body.access_log.push(entry);
    this.dirty = true;
    this.save();
    return rec ? clone(rec) : undefined;
  }

  /** Every (pseudonym, record) pair: for key rotation and the load path, not for display. */
  entries(): Array<[string, VaultRecord]> {
    return Object.entries(this.body.records).map(([p, r]) => [p, clone(r)]);
  }

  /**
   * Moves records from old to new pseudonyms (key rotation). Records whose pseudonym is not in the
   * map keep it. Access-log entries are re-pointed too, so past accesses stay attributable to the
   * person. Returns the number of records moved.
   */
  rekey(map: Map<string, string>, who = 'learnpipe', purpose = 'key rotation'): number {
    const next: Record<string, VaultRecord> = {};
    let moved = 0;
    for (const [p, rec] of Object.entries(this.body.records)) {
      const np = map.get(p) ?? p;
      if (np !== p) moved++;
      const existing = next[np];
      if (existing) {
        existing.identifiers = { ...existing.identifiers, ...rec.identifiers };
        for (const [s, f] of Object.entries(rec.fields)) existing.fields[s] = { ...(existing.fields[s] ?? {}), ...f };
        if (!existing.kind && rec.kind) existing.kind = rec.kind;
      } else next[np] = rec;
    }
    this.body.records = next;
    for (const e of this.body.access_log) {
      const np = map.get(e.pseudonym);
      if (np) e.pseudonym = np;
    }
    this.body.access_log.push({ who, at: new Date().toISOString(), pseudonym: '*', purpose, found: true });
    this.dirty = true;
    return moved;
  }

  /** Re-encrypts the vault with another vault key on the next save (vault key rotation). */
  changeKey(newKey: Buffer, who = 'learnpipe'): void {
    checkKey(newKey);
    this.key = Buffer.from(newKey);
    this.body.access_log.push({ who, at: new Date().toISOString(), pseudonym: '*', purpose: 'vault key change', found: true });
    this.dirty = true;
  }

  /** The access log (a copy). */
  accessLog(): AccessLogEntry[] {
    return clone(this.body.access_log);
  }

  /** Encrypts and writes the vault atomically (temp file + rename), owner-only (0600). */
  save(): void {
    writeAtomic(this.file, encryptBody(this.body, this.key));
    this.dirty = false;
  }
}

// ---- Filling the vault from the load path -------------------------------------------------------

/**
 * Files every raw key a load pseudonymised: reads (kind, raw, pseudonym) from the load's key table
 * (normalize/identity.ts writes it as `__keys`) and puts {kind: raw} under each pseudonym, so a key
 * rotation can re-derive every pseudonym. Call after pseudonymizeKeys, before the key table is
 * dropped. Returns the number of keys filed.
 */
export async function vaultKeysFromTable(engine: Engine, vault: Vault, source: string, keysTable = '__keys'): Promise<number> {
  const rows = await engine.all<{ kind: string; raw: string; pseudonym: string }>(
    `SELECT DISTINCT kind, raw, pseudonym FROM ${engine.dialect.quoteIdent(keysTable)} WHERE pseudonym IS NOT NULL AND raw IS NOT NULL ORDER BY kind, pseudonym`,
  );
  for (const r of rows) vault.put(r.pseudonym, source, {}, { [r.kind]: r.raw }, r.kind);
  return rows.length;
}

/**
 * Files a source's PII columns (config `pii_columns`) under the pseudonym of each row's key: reads
 * `keyColumn` and the PII columns from `table` (a temp table of the raw reader output). When a key has
 * several rows with different values, which one wins is unspecified: pass one row per key (e.g. the
 * latest HR record) for a deterministic vault. The PII never touches a warehouse table. Returns the
 * number of rows filed.
 */
export async function vaultPiiFromTable(
  engine: Engine,
  vault: Vault,
  opts: { source: string; table: string; keyColumn: string; kind: string; piiColumns: string[]; pz: Pseudonymizer },
): Promise<number> {
  if (opts.piiColumns.length === 0) return 0;
  const q = (s: string) => engine.dialect.quoteIdent(s);
  const cols = opts.piiColumns.map((c) => `CAST(${q(c)} AS VARCHAR) AS ${q('pii_' + c)}`);
  const rows = await engine.all(`SELECT CAST(${q(opts.keyColumn)} AS VARCHAR) AS __key, ${cols.join(', ')} FROM ${q(assertIdentifier(opts.table, 'table'))} WHERE ${q(opts.keyColumn)} IS NOT NULL`);
  let n = 0;
  for (const r of rows) {
    const p = opts.pz.of(opts.kind, r.__key as string);
    if (p === null) continue;
    const fields: Record<string, string | null> = {};
    for (const c of opts.piiColumns) fields[c] = (r['pii_' + c] as string | null) ?? null;
    vault.put(p, opts.source, fields, { [opts.kind]: r.__key as string }, opts.kind);
    n++;
  }
  return n;
}
