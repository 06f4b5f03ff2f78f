import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBEngine } from '../src/engine/duckdb.js';
import { piiFindSql, piiRedactSql, piiFindByKindSql, scanText, redactText, piiPatterns } from '../src/privacy/pii-scan.js';

const POSITIVE: Array<[text: string, kinds: string[], redacted: string]> = [
  ['mail me at jane.doe+lms@example.co.uk please', ['email'], 'mail me at [EMAIL] please'],
  ['MAILTO:Bob_Smith@Corp-Mail.test', ['email'], 'MAILTO:[EMAIL]'],
  ['call +44 20 7946 0001 today', ['phone'], 'call [PHONE] today'],
  ['US office +1 (555) 123-4567', ['phone'], 'US office [PHONE]'],
  ['desk (555) 123-4567 or 555-987-6543', ['phone', 'phone'], 'desk [PHONE] or [PHONE]'],
  ['mobile 07700 900123', ['phone'], 'mobile [PHONE]'],
  ['landline 020 7946 0001.', ['phone'], 'landline [PHONE].'],
  ['ssn 123-45-6789 on file', ['national_id'], 'ssn [ID] on file'],
  ['NI number AB123456C', ['national_id'], 'NI number [ID]'],
  ['NI: JG 12 34 56 A', ['national_id'], 'NI: [ID]'],
  ['a@b.io, 123-45-6789, +33 1 23 45 67 89', ['email', 'national_id', 'phone'], '[EMAIL], [ID], [PHONE]'],
];

const NEGATIVE = [
  'completed module 3 on 2024-05-01 at 14:30',
  'course CS-101 version 1.2.3, score 87.5%',
  'order 12345 and ticket #9876',
  'pi is 3.14159 and e is 2.71828',
  'email me (no address here) @ the office',
  'Great course! 10/10 would recommend',
  'room B12, floor 3',
  'AB12 is a room code; DQ123456C is not a valid NI prefix',
];

test('pii scan (JS): finds and redacts emails, phones and national ids; leaves ordinary text alone', () => {
  for (const [text, kinds, redacted] of POSITIVE) {
    assert.deepEqual(scanText(text).map((f) => f.kind).sort(), [...kinds].sort(), text);
    assert.equal(redactText(text), redacted, text);
  }
  for (const text of NEGATIVE) {
    assert.deepEqual(scanText(text), [], text);
    assert.equal(redactText(text), text);
  }
  assert.deepEqual(scanText('x a@b.io y', ['phone']), []);
  assert.equal(redactText('a@b.io 123-45-6789', ['national_id']), 'a@b.io [ID]');
  assert.deepEqual(piiPatterns.map((p) => p.replacement), ['[EMAIL]', '[ID]', '[PHONE]']);
});

test('pii scan (DuckDB): the SQL builders agree with the JS scanner, row by row', async () => {
  const e = await DuckDBEngine.open(':memory:');
  try {
    await e.run(`CREATE TABLE t (id INTEGER, txt VARCHAR)`);
    const texts = [...POSITIVE.map((p) => p[0]), ...NEGATIVE, null];
    await e.appendRows('t', texts.map((x, i) => [i, x]));
    const byKind = piiFindByKindSql('txt');
    const rows = await e.all<{ id: number; found: boolean; redacted: string | null; email: boolean; phone: boolean; national_id: boolean }>(
      `SELECT id, ${piiFindSql('txt')} AS found, ${piiRedactSql('txt')} AS redacted,
         ${byKind.email} AS email, ${byKind.phone} AS phone, ${byKind.national_id} AS national_id
       FROM t ORDER BY id`,
    );
    for (const r of rows) {
      const text = texts[r.id];
      if (text === null) {
        assert.equal(r.found, false);
        assert.equal(r.redacted, null);
        continue;
      }
      assert.equal(r.found, scanText(text).length > 0, text);
      assert.equal(r.redacted, redactText(text), text);
      const kinds = new Set(scanText(text).map((f) => f.kind));
      // per-kind SQL checks the raw text, JS checks after earlier kinds are redacted: they agree on this corpus
      assert.equal(r.email, kinds.has('email'), text);
      assert.equal(r.national_id, kinds.has('national_id'), text);
      assert.equal(r.phone, kinds.has('phone'), text);
    }
    // after redaction nothing is found any more
    const left = await e.one<{ n: number }>(`SELECT count(*) AS n FROM (SELECT ${piiRedactSql('txt')} AS r FROM t) WHERE ${piiFindSql('r')}`);
    assert.equal(Number(left!.n), 0);
    assert.equal(piiFindSql('txt', []), 'false');
  } finally {
    await e.close();
  }
});
