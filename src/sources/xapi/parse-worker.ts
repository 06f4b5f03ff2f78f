// A parse worker (see parallel.ts): turns chunks of whole lines of a JSON-lines statement file into
// landing CSV lines, voiding targets and rejects, exactly as the in-thread path does (read.ts parseLine,
// items.ts xapiOut, flatten.ts csvRow), so the main thread only writes what comes back, in order.
import { isAscii } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { parseLine } from './read.js';
import { RAW_LIMIT, xapiOut } from './items.js';
import { csvRow, type XapiFlattenOptions } from './flatten.js';
import type { ChunkRequest, ChunkResult } from './parallel.js';

const o = (workerData as { o: XapiFlattenOptions }).o;

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
    const { out, raw } = xapiOut(d, o);
    rel.push(n);
    if (out.kind === 'row') {
      kinds.push(out.assessment ? 1 : 0);
      csv.push(csvRow(out.row));
    } else if (out.kind === 'void') {
      kinds.push(2);
      voids.push(out.target);
    } else {
      kinds.push(3);
      rejects.push([out.reason, out.field, out.detail, raw().slice(0, RAW_LIMIT)]);
    }
  }
  const r: ChunkResult = { id: m.id, lines: n, kinds: Uint8Array.from(kinds), rel: Int32Array.from(rel), csv, voids, rejects };
  parentPort!.postMessage(r, [r.kinds.buffer as ArrayBuffer, r.rel.buffer as ArrayBuffer]);
});
