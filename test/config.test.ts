import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseConfigText, loadConfig, ConfigError } from '../src/config/load.js';
import { STARTER_CONFIG } from '../src/cli/init-template.js';
import { DEMO_CONFIG } from '../src/cli/demo-config.js';
import { tmpDir } from './helpers/tmp.js';

function issuesOf(text: string) {
  try {
    parseConfigText(text, 'pipeline.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail('expected a config error');
}

const base = `warehouse: w.duckdb
sources:
  - name: lms
    format: csv
    path: data.csv
    target: events
    fields:
      event_id: id
      user: { column: uid, kind: lms_id }
      event_type: type
      timestamp: { column: ts, format: local, timezone: Europe/London }
`;

test('a valid config parses, with defaults filled in', () => {
  const c = parseConfigText(base, 'pipeline.yaml');
  assert.equal(c.sources[0].name, 'lms');
  assert.equal(c.defaults.lookback_days, 7);
  assert.deepEqual(c.keys.pseudonym, { env: 'LEARNPIPE_PSEUDONYM_KEY' });
  assert.equal(c.output_dir, 'out');
});

test('the starter config and the demo config are valid', () => {
  parseConfigText(STARTER_CONFIG, 'starter.yaml');
  const demo = parseConfigText(DEMO_CONFIG, 'demo.yaml');
  assert.ok(demo.sources.length >= 6);
});

test('a misspelled key names file, line, column, path and suggests the right key', () => {
  const issues = issuesOf(base.replace('    format: csv', '    fromat: csv'));
  const i = issues.find((x) => x.path === 'sources[0].fromat')!;
  assert.ok(i, JSON.stringify(issues));
  assert.equal(i.path, 'sources[0].fromat');
  assert.equal(i.line, 4);
  assert.equal(i.column, 5);
  assert.match(i.message, /unknown key "fromat" \(did you mean "format"\?\)/);
});

test('a wrong type says what was expected and what it got', () => {
  const issues = issuesOf(base.replace('warehouse: w.duckdb', 'warehouse: w.duckdb\ndefaults: { lookback_days: "seven" }'));
  const i = issues.find((x) => x.path === 'defaults.lookback_days')!;
  assert.ok(i, JSON.stringify(issues));
  assert.equal(i.line, 2);
  assert.match(i.message, /expected number.*got "seven"/);
});

test('an unknown time zone is an error at its position', () => {
  const [i] = issuesOf(base.replace('Europe/London', 'Europe/Londn'));
  assert.equal(i.path, 'sources[0].fields.timestamp.timezone');
  assert.equal(i.line, 11);
  assert.match(i.message, /IANA time zone/);
});

test('a missing required field of the target is named', () => {
  const [i] = issuesOf(base.replace('      event_type: type\n', ''));
  assert.equal(i.path, 'sources[0].fields.event_type');
  assert.match(i.message, /must map the field event_type/);
});

test('a YAML syntax error gives its line', () => {
  const [i] = issuesOf('sources:\n  - name: [unclosed\n');
  assert.ok(i.line && i.line >= 2, JSON.stringify(i));
  assert.match(i.message, /YAML syntax error/);
});

test('a source path that matches no file is reported with the file position', () => {
  const dir = tmpDir();
  writeFileSync(path.join(dir, 'pipeline.yaml'), base);
  assert.throws(
    () => loadConfig(path.join(dir, 'pipeline.yaml'), { checkFiles: true }),
    (err: unknown) => err instanceof ConfigError && /pipeline\.yaml:5:11: sources\[0\]\.path: no file matches "data\.csv"/.test(err.message),
  );
  writeFileSync(path.join(dir, 'data.csv'), 'id\n');
  loadConfig(path.join(dir, 'pipeline.yaml'), { checkFiles: true });
  mkdirSync(path.join(dir, 'logs'));
  writeFileSync(path.join(dir, 'logs', 'a.csv'), 'x\n');
  writeFileSync(path.join(dir, 'logs', 'b.csv'), 'x\n');
  const globbed = loadConfig(path.join(dir, 'pipeline.yaml'));
  assert.ok(globbed);
});

test('a missing config file says how to create one', () => {
  assert.throws(() => loadConfig('/nonexistent/pipeline.yaml'), /learnpipe init/);
});

test('secrets cannot be put in the config: a key source only names where the key is', () => {
  const [i] = issuesOf(base.replace('warehouse: w.duckdb', 'warehouse: w.duckdb\nkeys: { pseudonym: { value: abc } }'));
  assert.match(i.message, /unknown key "value"/);
});
