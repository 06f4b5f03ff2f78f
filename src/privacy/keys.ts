// Secret keys come from an environment variable or a key file named in the config, never from the
// config itself. A key is 32 bytes, written as 64 hex characters or base64. Messages name where a key
// was looked for and how to create one; they never contain key material.
import { existsSync, readFileSync, writeFileSync, mkdirSync, statSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export interface KeySource {
  env?: string;
  file?: string;
}

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

function decodeKey(text: string, where: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length === 32) return b;
  }
  throw new KeyError(`the key in ${where} is not 32 bytes as 64 hex characters or base64 (create one with \`learnpipe keys create\`)`);
}

/** Loads a key: the environment variable wins over the file. */
export function loadKey(source: KeySource, baseDir: string, purpose: string): Buffer {
  if (source.env && process.env[source.env]) return decodeKey(process.env[source.env]!, `the environment variable ${source.env}`);
  if (source.file) {
    const p = path.resolve(baseDir, source.file);
    if (existsSync(p)) return decodeKey(readFileSync(p, 'utf8'), `the key file ${p}`);
  }
  const tried = [source.env && `the environment variable ${source.env}`, source.file && `the key file ${path.resolve(baseDir, source.file)}`].filter(Boolean).join(' or ');
  throw new KeyError(
    `no ${purpose} key found in ${tried}. Create one with \`learnpipe keys create --out ${source.file ?? 'keys/' + purpose + '.key'}\` ` +
      `(or export ${source.env ?? 'LEARNPIPE_' + purpose.toUpperCase() + '_KEY'}=$(openssl rand -hex 32)), and keep it out of git.`,
  );
}

/** Writes a fresh random key file readable by its owner only; refuses to overwrite. */
export function createKeyFile(file: string): string {
  const p = path.resolve(file);
  if (existsSync(p)) throw new KeyError(`${p} exists; refusing to overwrite a key (pseudonyms made with it would become unreadable)`);
  mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(p, 0o600);
  return p;
}

/** True when a file is readable by group or others (a key file should not be). */
export function isTooOpen(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}
