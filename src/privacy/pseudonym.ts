// Keyed pseudonyms: HMAC-SHA256 of the kind and the normalised value, truncated to 128 bits (32 hex).
// The kind is part of the message so an employee id and an email with the same text never collide.
import { createHmac } from 'node:crypto';

export type KeyKind = string;

/** Normalises a raw identifier of a kind; returns null when nothing usable is left. */
export function normalizeKey(kind: KeyKind, raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  let v = String(raw).normalize('NFKC').trim();
  if (kind === 'email' || kind === 'mbox') v = v.replace(/^mailto:/i, '').toLowerCase();
  else if (kind === 'employee_id') v = v.toUpperCase();
  return v.length ? v : null;
}

export class Pseudonymizer {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('a pseudonym key must be at least 32 bytes');
  }
  /** Pseudonym of an already-normalised value. */
  pseudonym(kind: KeyKind, normalized: string): string {
    return createHmac('sha256', this.key).update(kind).update('\u0000').update(normalized).digest('hex').slice(0, 32);
  }
  /** Normalises then pseudonymises; null when the raw value is empty. */
  of(kind: KeyKind, raw: string | null | undefined): string | null {
    const n = normalizeKey(kind, raw);
    return n === null ? null : this.pseudonym(kind, n);
  }
}
