// Streams JSON documents out of statement files: .jsonl / .ndjson (one a line), .json (an array, one
// document, or one a line), each optionally gzipped. Every document comes with its location
// (file:line, or file[index] inside an array) and malformed text comes back as an error, not a throw.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type Doc = { loc: string; value: unknown } | { loc: string; error: string; raw: string };

function open(file: string): Readable {
  const s = createReadStream(file, { highWaterMark: 4 << 20 });
  return file.endsWith('.gz') ? s.pipe(createGunzip()) : s;
}

async function readAll(file: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of open(file)) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/^\uFEFF/, '');
}

function parse(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * Whether a file holds one document a line: .jsonl / .ndjson always; .json when its first line is a
 * whole document (not an array); else it is an array or one (possibly pretty-printed) document.
 */
export async function isLineMode(file: string): Promise<boolean> {
  if (/\.(jsonl|ndjson)$/i.test(file.replace(/\.gz$/, ''))) return true;
  const first = await firstLine(file);
  return 'value' in parse(first) && !first.trimStart().startsWith('[');
}

/** Documents of one file, in batches; `relPath` names the file in locations. Arrays are unrolled one level. */
export async function* readDocuments(file: string, relPath: string): AsyncGenerator<Doc[]> {
  if (!(await isLineMode(file))) {
    const text = await readAll(file);
    const whole = parse(text);
    // JSON.parse keeps the last of repeated keys; an LRS rejects such a statement, so do we.
    const dups = 'value' in whole ? duplicateKeys(text) : new Map<number, string>();
    const dup = (i: number, loc: string): Doc | null => (dups.has(i) ? { loc, error: `duplicate key ${JSON.stringify(dups.get(i))}`, raw: JSON.stringify((whole as { value: unknown[] }).value) } : null);
    if ('value' in whole && Array.isArray(whole.value)) {
      const arr = whole.value;
      yield arr.map((value, i) => dup(i, `${relPath}[${i}]`) ?? { loc: `${relPath}[${i}]`, value });
    } else if ('value' in whole) yield [dup(-1, `${relPath}:1`) ?? { loc: `${relPath}:1`, value: whole.value }];
    else yield [{ loc: `${relPath}:1`, error: `malformed JSON: ${whole.error}`, raw: text.slice(0, 2000) }];
    return;
  }
  // One document a line. Lines are found in the bytes and each chunk's whole lines decoded in one go
  // (a newline is never inside a multi-byte character): several times faster than node:readline.
  let n = 0;
  let rest: Buffer = Buffer.alloc(0);
  for await (const c of open(file)) {
    const chunk = c as Buffer;
    const batch: Doc[] = [];
    let from = 0;
    // The line begun in the previous chunk: only its bytes are joined, never the whole chunk.
    if (rest.length) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        rest = Buffer.concat([rest, chunk]);
        continue;
      }
      const doc = lineDoc(Buffer.concat([rest, chunk.subarray(0, nl)]).toString('utf8').replace(/\r$/, ''), ++n, relPath);
      if (doc) batch.push(doc);
      from = nl + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last < from) {
      rest = Buffer.from(chunk.subarray(from));
      if (batch.length) yield batch;
      continue;
    }
    const text = chunk.toString('utf8', from, last);
    rest = Buffer.from(chunk.subarray(last + 1));
    let start = 0;
    for (;;) {
      const i = text.indexOf('\n', start);
      const end = i < 0 ? text.length : i;
      const doc = lineDoc(text.slice(start, text.charCodeAt(end - 1) === 13 ? end - 1 : end), ++n, relPath);
      if (doc) batch.push(doc);
      if (i < 0) break;
      start = i + 1;
    }
    if (batch.length) yield batch;
  }
  if (rest.length) {
    const doc = lineDoc(rest.toString('utf8').replace(/\r$/, ''), ++n, relPath);
    if (doc) yield [doc];
  }
}

function lineDoc(line: string, n: number, relPath: string): Doc | null {
  const d = parseLine(line, n === 1);
  return d && { loc: `${relPath}:${n}`, ...d };
}

/**
 * One line of a JSON-lines file (its final carriage return already gone): null when blank, else its
 * document or why it is malformed. `first`: the file's first line, which may start with a byte-order mark.
 * Shared by the in-thread reader and the parse workers (parallel.ts), so both read lines alike.
 */
export function parseLine(line: string, first: boolean): { value: unknown } | { error: string; raw: string } | null {
  const t = first ? line.replace(/^\uFEFF/, '') : line;
  if (!t.trim()) return null;
  try {
    return { value: JSON.parse(t) };
  } catch (err) {
    return { error: `malformed JSON: ${(err as Error).message}`, raw: t };
  }
}

/**
 * Objects with a repeated key in a JSON text (valid JSON otherwise): the top-level array index they are
 * in (-1 when the text is one object) → the key. A single scan; strings are skipped, not decoded.
 */
export function duplicateKeys(text: string): Map<number, string> {
  const found = new Map<number, string>();
  const stack: Array<{ keys: Set<string> | null; index: number }> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        const key = text.slice(i + 1, j);
        const where = stack.length === 1 ? -1 : stack[0].keys === null ? stack[0].index : -1;
        if (top.keys.has(key) && !found.has(where)) found.set(where, key);
        top.keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === '{') {
      stack.push({ keys: new Set(), index: 0 });
      expectKey = true;
    } else if (ch === '[') {
      stack.push({ keys: null, index: 0 });
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) expectKey = true;
      else if (top) top.index++;
    }
  }
  return found;
}

async function firstLine(file: string): Promise<string> {
  const rl = createInterface({ input: open(file), crlfDelay: Infinity });
  try {
    for await (const line of rl) if (line.trim()) return line.replace(/^\uFEFF/, '');
    return '';
  } finally {
    rl.close();
  }
}
