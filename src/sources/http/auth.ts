// Credentials of the HTTP endpoint: a file of hashed secrets, one client a line:
//
//   # name    scheme  salted hash
//   lms-prod  bearer  sha256:9f1c…:4be2…
//   lrs-fwd   basic   sha256:03aa…:77d0…
//
// `bearer` clients send `Authorization: Bearer <secret>`; `basic` clients send the name as the user and the
// secret as the password. Secrets are 32 random bytes made by `learnpipe serve add-client`, shown once and
// never stored: with secrets that long, a salted SHA-256 is as safe to keep as a slow password hash and
// cheap enough to check on every request. Comparisons are constant-time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type Scheme = 'bearer' | 'basic';

export interface Credential {
  name: string;
  scheme: Scheme;
  salt: Buffer;
  hash: Buffer;
}

export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function hashSecret(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}

/** Reads a credentials file; every mistake names the file and line. */
export function readCredentials(file: string): Credential[] {
  if (!existsSync(file)) {
    throw new CredentialsError(`no credentials file at ${file}; create a client with \`learnpipe serve add-client <name>\``);
  }
  const out: Credential[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const [name, scheme, hashed, ...rest] = line.split(/\s+/);
      const m = /^sha256:([0-9a-f]{32}):([0-9a-f]{64})$/.exec(hashed ?? '');
      const where = `${file}:${i + 1}`;
      if (rest.length || !NAME.test(name) || (scheme !== 'bearer' && scheme !== 'basic') || !m) {
        throw new CredentialsError(`${where}: expected "<name> <bearer|basic> sha256:<salt>:<hash>" (name of letters, digits, _ . -)`);
      }
      if (out.some((c) => c.name === name)) throw new CredentialsError(`${where}: the client ${name} is listed twice`);
      out.push({ name, scheme, salt: Buffer.from(m[1], 'hex'), hash: Buffer.from(m[2], 'hex') });
    });
  if (!out.length) throw new CredentialsError(`${file} lists no client; create one with \`learnpipe serve add-client <name>\``);
  return out;
}

/** Adds a client to the credentials file (created owner-only) and returns its secret, to show once. */
export function addClient(file: string, name: string, scheme: Scheme): string {
  if (!NAME.test(name)) throw new CredentialsError(`a client name is 1–64 letters, digits, _ . or -; got ${JSON.stringify(name)}`);
  if (existsSync(file) && readFileSync(file, 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[0] === name)) {
    throw new CredentialsError(`${file} already has a client named ${name}`);
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  const header = existsSync(file) ? '' : '# learnpipe serve clients: name, scheme, salted SHA-256 of the secret (the secrets are not stored)\n';
  appendFileSync(file, `${header}${name} ${scheme} sha256:${salt.toString('hex')}:${hashSecret(salt, secret).toString('hex')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

/**
 * The client an Authorization header authenticates, or null. Every credential of the scheme is compared
 * (no early exit), so the time taken does not tell which part matched.
 */
export function authenticate(credentials: Credential[], header: string | undefined): Credential | null {
  if (!header) return null;
  let scheme: Scheme;
  let user: string | null = null;
  let secret: string;
  if (/^Bearer /i.test(header)) {
    scheme = 'bearer';
    secret = header.slice(7).trim();
  } else if (/^Basic /i.test(header)) {
    scheme = 'basic';
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    user = decoded.slice(0, colon);
    secret = decoded.slice(colon + 1);
  } else return null;
  let match: Credential | null = null;
  for (const c of credentials) {
    if (c.scheme !== scheme) continue;
    const ok = timingSafeEqual(hashSecret(c.salt, secret), c.hash);
    const nameOk = user === null || timingSafeEqual(createHash('sha256').update(user).digest(), createHash('sha256').update(c.name).digest());
    if (ok && nameOk && !match) match = c;
  }
  return match;
}

/** Per-client token buckets: `rate` statements a second, bursts up to `burst`. */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes `n` tokens for `client`; returns 0 when allowed, else the seconds to wait. */
  take(client: string, n: number): number {
    const t = this.now();
    const b = this.buckets.get(client) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    this.buckets.set(client, b);
    if (n > this.burst) return Math.ceil(n / this.rate);
    if (b.tokens >= n) {
      b.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((n - b.tokens) / this.rate));
  }
}
