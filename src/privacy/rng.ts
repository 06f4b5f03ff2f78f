// Random sources for the differential-privacy mechanisms.
//
// - `SeededRng`: a counter-based generator. Block i is HMAC-SHA256(key = SHA-256("learnpipe-rng/1" ‖ seed),
//   message = i as a 64-bit big-endian integer); each 32-byte block yields eight 32-bit words. The same
//   seed always gives the same stream (tests, reproducible dry runs). NOT for real releases: anyone who
//   knows the seed can subtract the noise.
// - `CryptoRng`: `crypto.randomBytes`, buffered. Use this for production releases.
//
// Both expose 32-bit words and doubles with 53 random bits.
import { createHash, createHmac, randomBytes } from 'node:crypto';

export interface Rng {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number;
}

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

function doubleFrom(rng: Rng): number {
  const a = rng.nextUint32() >>> 5; // 27 bits
  const b = rng.nextUint32() >>> 6; // 26 bits
  return (a * TWO_POW_26 + b) / TWO_POW_53;
}

/** Deterministic counter-mode generator built on HMAC-SHA256. */
export class SeededRng implements Rng {
  private readonly key: Buffer;
  private counter = 0n;
  private block: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(seed: string) {
    this.key = createHash('sha256').update('learnpipe-rng/1\u0000').update(seed, 'utf8').digest();
  }

  private refill(): void {
    const msg = Buffer.alloc(8);
    msg.writeBigUInt64BE(this.counter);
    this.counter += 1n;
    this.block = createHmac('sha256', this.key).update(msg).digest();
    this.pos = 0;
  }

  nextUint32(): number {
    if (this.pos + 4 > this.block.length) this.refill();
    const v = this.block.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uniform(): number {
    return doubleFrom(this);
  }
}

/** Cryptographically secure generator (crypto.randomBytes, read 4 KiB at a time). */
export class CryptoRng implements Rng {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  nextUint32(): number {
    if (this.pos + 4 > this.buf.length) {
      this.buf = randomBytes(4096);
      this.pos = 0;
    }
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uniform(): number {
    return doubleFrom(this);
  }
}

/** A reproducible generator for tests and dry runs. */
export function seededRng(seed: string): Rng {
  return new SeededRng(seed);
}

/** A secure generator for real releases. */
export function cryptoRng(): Rng {
  return new CryptoRng();
}

/** A uniform double in (0, 1] — safe to take the logarithm of. */
export function uniformOpenZero(rng: Rng): number {
  return 1 - rng.uniform();
}
