// Where the shared sample data lives: ../shared/data next to the repository, or LEARNPIPE_SHARED_DATA
// (a worktree elsewhere points it at the same folder). Tests skip with a message when it is absent.
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const SHARED_DATA = process.env.LEARNPIPE_SHARED_DATA ?? path.resolve(ROOT, '../shared/data');

export function sharedData(sub: string): { dir: string; skip: string | false } {
  const dir = path.join(SHARED_DATA, sub);
  return { dir, skip: existsSync(dir) ? false : `shared data absent: ${dir} (../shared/data next to the repository, or set LEARNPIPE_SHARED_DATA)` };
}
