// A parse worker (see parallel.ts): turns chunks of whole lines of a JSON-lines statement file into
// landing CSV lines, voiding targets and rejects, exactly as the in-thread path does (read.ts parseLine,
// items.ts xapiOutcome, flatten.ts csvRow), so the main thread only writes what comes back, in order.
import { isAscii } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { parseLine } from './read.js';
import { RAW_LIMIT, rawText, xapiOutcome } from './items.js';
import { csvRow, type XapiFlattenOptions } from './flatten.js';
import type { ChunkRequest, ChunkResult } from './parallel.js';

const o = (workerData as { o: XapiFlattenOptions }).o;
const encoder = new TextEncoder();

parentPort!.on('message', (m: ChunkRequest) => {
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  // Pure ASCII (most statement files) decodes the same as latin1, which is several times faster than UTF-8.
  const text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const kinds: number[] = [];
  const rel: number[] = [];
  const csv: string[] = [];
  const voids: string[] = [];
  const rejects: ChunkResult['rejects'] = [];
  let n = 0;
  for (let start = 0; start < text.length; ) {
    const i = text.indexOf('\n', start);
    const end = i < 0 ? text.length : i;
    n++;
    const d = parseLine(text.slice(start, text.charCodeAt(end - 1) === 13 && end > start ? end - 1 : end), m.first && n === 1);
    start = end + 1;
    if (!d) continue;
    const out = xapiOutcome(d, o);
    rel.push(n);
    if (out.kind === 'row') {
      kinds.push(out.assessment ? 1 : 0);
      csv.push(csvRow(out.row));
    } else if (out.kind === 'void') {
      kinds.push(2);
      voids.push(out.target);
    } else {
      kinds.push(3);
      rejects.push([out.reason, out.field, out.detail, rawText(d).slice(0, RAW_LIMIT)]);
    }
  }
  // The rows go back as one block of UTF-8 bytes (moved, not copied) with where each line ends: cloning
  // hundreds of strings per chunk cost the worker more than flattening them.
  const joined = csv.length ? csv.join('\n') + '\n' : '';
  const block = encoder.encode(joined);
  const ends = new Int32Array(csv.length);
  if (block.length === joined.length) {
    for (let j = 0, at = 0; j < csv.length; j++) ends[j] = at += csv[j].length + 1;
  } else {
    for (let j = 0, at = 0; j < csv.length; j++) ends[j] = at += Buffer.byteLength(csv[j]) + 1;
  }
  const r: ChunkResult = { id: m.id, lines: n, kinds: Uint8Array.from(kinds), rel: Int32Array.from(rel), csv: block, ends, voids, rejects };
  parentPort!.postMessage(r, [r.kinds.buffer as ArrayBuffer, r.rel.buffer as ArrayBuffer, r.csv.buffer as ArrayBuffer, r.ends.buffer as ArrayBuffer]);
});
