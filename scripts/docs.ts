// Regenerates docs/schema.md from the canonical schema module.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { schemaMarkdown } from '../src/schema/docs.js';

const out = path.resolve(import.meta.dirname, '../docs/schema.md');
writeFileSync(out, schemaMarkdown());
console.log(`wrote ${out}`);
