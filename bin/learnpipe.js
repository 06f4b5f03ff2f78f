#!/usr/bin/env node
// Runs the compiled CLI when present (npm install of the package), else the TypeScript source via tsx
// (a git checkout).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const compiled = path.join(root, 'dist', 'cli', 'main.js');
let mod;
if (existsSync(compiled)) mod = await import(pathToFileURL(compiled).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(path.join(root, 'src', 'cli', 'main.ts')).href);
}
process.exit(await mod.main(process.argv));
