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
let scratch = Buffer.allocUnsafeSlow(1 << 20);

parentPort!.on('message', (m: ChunkRequest) => {
  const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  // Pure ASCII (most statement files) decodes the same as latin1, which is several times faster than UTF-8.
  const text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const kinds: number[] = [];
  const rel: number[] = [];
  const ends: number[] = [];
  const voids: string[] = [];
  const rejects: ChunkResult['rejects'] = [];
  // The rows' CSV lines go straight into a buffer, and back to the main thread as one block of bytes with
  // where each line ends: a row's string dies at once instead of surviving, with its many pieces, every
  // young generation collection until the chunk is done (those copies were a sixth of a worker's time).
  let csv = scratch;
  let at = 0;
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
      const line = csvRow(out.row);
      // At most 3 UTF-8 bytes per UTF-16 unit, and the line break.
      if (at + 3 * line.length + 1 > csv.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(csv.length * 2, at + 3 * line.length + 1));
        csv.copy(bigger, 0, 0, at);
        csv = scratch = bigger;
      }
      at += csv.write(line, at);
      csv[at++] = 10;
      ends.push(at);
    } else if (out.kind === 'void') {
      kinds.push(2);
      voids.push(out.target);
    } else {
      kinds.push(3);
      rejects.push([out.reason, out.field, out.detail, rawText(d).slice(0, RAW_LIMIT)]);
    }
  }
  // A copy of just the bytes written (the scratch buffer stays for the next chunk), moved to the main thread.
  const block = new Uint8Array(Buffer.allocUnsafeSlow(at).buffer, 0, at);
  block.set(csv.subarray(0, at));
  // The chunk's bytes go back too, for the main thread to read the file into again.
  const r: ChunkResult = { id: m.id, lines: n, kinds: Uint8Array.from(kinds), rel: Int32Array.from(rel), csv: block, ends: Int32Array.from(ends), voids, rejects, input: m.bytes };
  parentPort!.postMessage(r, [r.kinds.buffer as ArrayBuffer, r.rel.buffer as ArrayBuffer, block.buffer as ArrayBuffer, r.ends.buffer as ArrayBuffer, m.bytes.buffer as ArrayBuffer]);
});
