// A small glob (*, ?, ** and [..]) over the local file system, sorted so loads are deterministic.
// Node 20 has no fs.glob; this covers what source paths need.
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';

function segmentRegex(seg: string): RegExp {
  let re = '';
  for (const ch of seg) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if ('[]'.includes(ch)) re += ch;
    else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const hasMagic = (s: string) => /[*?[]/.test(s);

export function expandGlob(pattern: string): string[] {
  const abs = path.resolve(pattern);
  if (!hasMagic(abs)) return existsSync(abs) && statSync(abs).isFile() ? [abs] : [];
  const parts = abs.split(path.sep);
  const firstMagic = parts.findIndex(hasMagic);
  const root = parts.slice(0, firstMagic).join(path.sep) || path.sep;
  const out: string[] = [];
  const walk = (dir: string, rest: string[]) => {
    if (!rest.length) return;
    const [seg, ...tail] = rest;
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    if (seg === '**') {
      walk(dir, tail); // zero directories
      for (const e of entries) {
        const p = path.join(dir, e);
        if (statSync(p).isDirectory()) walk(p, rest);
      }
      return;
    }
    const re = segmentRegex(seg);
    for (const e of entries) {
      if (!re.test(e)) continue;
      const p = path.join(dir, e);
      const st = statSync(p);
      if (!tail.length) {
        if (st.isFile()) out.push(p);
      } else if (st.isDirectory()) walk(p, tail);
    }
  };
  walk(root, parts.slice(firstMagic));
  return [...new Set(out)].sort();
}
