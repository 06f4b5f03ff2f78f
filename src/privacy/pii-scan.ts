// PII scan for free-text columns: emails, phone numbers and national id numbers (US SSN, UK National
// Insurance number). The patterns are written in the common subset of RE2 (DuckDB's regex engine) and
// JavaScript, so the SQL builders (used on whole columns inside DuckDB) and `scanText` (JS, for tests
// and small inputs) find the same things.
//
// The patterns are deliberately simple and err on the side of finding too much in free text (a
// 10–11 digit number that looks like a phone number is redacted). They will miss PII written in
// other ways (names, addresses, spelled-out numbers): the scan is a safety net, not a guarantee.
import type { Dialect } from '../engine/dialects/dialect.js';

export type PiiKind = 'email' | 'phone' | 'national_id';

export interface PiiPattern {
  kind: PiiKind;
  /** What the match is replaced with by redaction. */
  replacement: string;
  /** The pattern (RE2 and JavaScript compatible). */
  source: string;
  description: string;
}

/** In redaction order: emails first (they may contain digits), then ids, then phone numbers. */
export const piiPatterns: readonly PiiPattern[] = [
  {
    kind: 'email',
    replacement: '[EMAIL]',
    source: String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
    description: 'email addresses',
  },
  {
    kind: 'national_id',
    replacement: '[ID]',
    source: [
      // US Social Security number ddd-dd-dddd
      String.raw`\b\d{3}-\d{2}-\d{4}\b`,
      // UK National Insurance number: two letters, six digits (optionally spaced in pairs), A–D
      String.raw`\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b`,
    ].join('|'),
    description: 'national id numbers (US SSN ddd-dd-dddd, UK NI number AB 12 34 56 C)',
  },
  {
    kind: 'phone',
    replacement: '[PHONE]',
    source: [
      // international: +44 20 7946 0001, +1 (555) 123-4567, +33.1.23.45.67.89
      String.raw`\+\d{1,3}[ .-]?(\(\d{1,4}\)|\d{1,4})([ .-]?\d{2,4}){2,4}`,
      // North American: (555) 123-4567, 555-123-4567, 555.123.4567
      String.raw`\(\d{3}\) ?\d{3}[ .-]\d{4}`,
      String.raw`\b\d{3}[.-]\d{3}[.-]\d{4}\b`,
      // UK and other trunk-prefixed national numbers: 020 7946 0001, 07700 900123, 0201234567
      String.raw`\b0\d{2,4} ?\d{3,4} ?\d{3,4}\b`,
    ].join('|'),
    description: 'phone numbers (international +…, North American, and 0-prefixed national numbers)',
  },
];

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

function select(kinds?: readonly PiiKind[]): PiiPattern[] {
  return piiPatterns.filter((p) => !kinds || kinds.includes(p.kind));
}

/** A SQL boolean: true when `expr` contains any PII of the given kinds (false for NULL). */
export function piiFindSql(expr: string, kinds?: readonly PiiKind[], dialect?: Dialect): string {
  const ps = select(kinds);
  if (ps.length === 0) return 'false';
  return `coalesce(${ps.map((p) => (dialect ? dialect.regexpMatches(expr, dialect.quoteString(p.source)) : `regexp_matches(${expr}, ${quote(p.source)})`)).join(' OR ')}, false)`;
}

/** A SQL boolean per kind, e.g. for counting findings by kind: {email: 'coalesce(regexp_matches(…), false)', …}. */
export function piiFindByKindSql(expr: string, kinds?: readonly PiiKind[], dialect?: Dialect): Record<PiiKind, string> {
  const out = {} as Record<PiiKind, string>;
  for (const p of select(kinds)) out[p.kind] = `coalesce(${dialect ? dialect.regexpMatches(expr, dialect.quoteString(p.source)) : `regexp_matches(${expr}, ${quote(p.source)})`}, false)`;
  return out;
}

/** A SQL text expression: `expr` with PII replaced by [EMAIL], [ID] and [PHONE] (NULL stays NULL). */
export function piiRedactSql(expr: string, kinds?: readonly PiiKind[], dialect?: Dialect): string {
  let out = expr;
  for (const p of select(kinds)) out = dialect ? dialect.regexpReplaceAll(out, dialect.quoteString(p.source), dialect.quoteString(p.replacement)) : `regexp_replace(${out}, ${quote(p.source)}, ${quote(p.replacement)}, 'g')`;
  return out;
}

export interface PiiFinding {
  kind: PiiKind;
  match: string;
  /** Position in the text as scanned: after earlier kinds (in piiPatterns order) were redacted. */
  index: number;
}

/** Finds PII in a string with the same patterns and order as the SQL (for tests and small inputs). */
export function scanText(s: string, kinds?: readonly PiiKind[]): PiiFinding[] {
  const findings: PiiFinding[] = [];
  let text = s;
  for (const p of select(kinds)) {
    const re = new RegExp(p.source, 'g');
    for (const m of text.matchAll(re)) findings.push({ kind: p.kind, match: m[0], index: m.index ?? 0 });
    // later patterns see the text with earlier kinds redacted, exactly like the nested SQL
    text = text.replace(re, p.replacement);
  }
  return findings;
}

/** Redacts PII in a string exactly like piiRedactSql. */
export function redactText(s: string, kinds?: readonly PiiKind[]): string {
  let text = s;
  for (const p of select(kinds)) text = text.replace(new RegExp(p.source, 'g'), p.replacement);
  return text;
}
