// Streams JSON documents out of statement files: .jsonl / .ndjson (one a line), .json (an array, one
// document, or one a line), each optionally gzipped. Every document comes with its location
// (file:line, or file[index] inside an array) and malformed text comes back as an error, not a throw.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export type Doc = { loc: string; value: unknown } | { loc: string; error: string; raw: string };

function open(file: string): Readable {
  const s = createReadStream(file, { highWaterMark: 1 << 20 });
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

/** Documents of one file; `relPath` names the file in locations. Arrays are unrolled one level. */
export async function* readDocuments(file: string, relPath: string): AsyncGenerator<Doc> {
  const base = file.replace(/\.gz$/, '');
  const lineMode = /\.(jsonl|ndjson)$/i.test(base);
  if (!lineMode) {
    // .json: one document a line when the first line is a whole document; else an array or one
    // (possibly pretty-printed) document.
    const first = await firstLine(file);
    if (!('value' in parse(first)) || first.trimStart().startsWith('[')) {
      const text = await readAll(file);
      const whole = parse(text);
      if ('value' in whole && Array.isArray(whole.value)) {
        for (let i = 0; i < whole.value.length; i++) yield { loc: `${relPath}[${i}]`, value: whole.value[i] };
      } else if ('value' in whole) yield { loc: `${relPath}:1`, value: whole.value };
      else yield { loc: `${relPath}:1`, error: `malformed JSON: ${whole.error}`, raw: text.slice(0, 2000) };
      return;
    }
  }
  let n = 0;
  const rl = createInterface({ input: open(file), crlfDelay: Infinity });
  for await (const line of rl) {
    n++;
    const t = n === 1 ? line.replace(/^\uFEFF/, '') : line;
    if (!t.trim()) continue;
    const p = parse(t);
    yield 'value' in p ? { loc: `${relPath}:${n}`, value: p.value } : { loc: `${relPath}:${n}`, error: `malformed JSON: ${p.error}`, raw: t };
  }
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
