// The HTML report: rendered from a realistic sample run, opened in a real headless Chromium (Debian's
// `chromium` driven by playwright-core). The page must render without console errors, draw every chart,
// fetch nothing but itself, and fit a phone-width screen; a full-page screenshot goes to docs/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { escapeHtml, formatNumber, layoutLineage, qaVerdict, renderReport, sortQa } from '../src/quality/report.js';
import type { RunReport } from '../src/quality/report-model.js';
import { tmpDir } from './helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SKIP = existsSync(CHROMIUM) ? false : 'Chromium not found: install it with `apt-get install -y chromium` (Debian) to run the report test';
// Saved under test-output/ (ignored by git); docs/report-screenshot.png is made from a real demo run by scripts/report-screenshot.ts.
const SCREENSHOT = fileURLToPath(new URL('../test-output/report-screenshot.png', import.meta.url));

/** Small deterministic PRNG (mulberry32) so the sample is the same on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function histogram(rand: () => number, lo: number, hi: number, bins: number, n: number, shape: (u: number) => number): { edges: number[]; counts: number[] } {
  const edges = Array.from({ length: bins + 1 }, (_, i) => Math.round((lo + ((hi - lo) * i) / bins) * 100) / 100);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < n; i++) {
    const u = Math.min(0.999999, Math.max(0, shape(rand())));
    counts[Math.floor(u * bins)]! += 1;
  }
  return { edges, counts };
}

function sampleReport(): RunReport {
  const rand = rng(42);
  const cutoffs = Array.from({ length: 12 }, (_, i) => `2024-${String(i + 1).padStart(2, '0')}-01`);
  const label_balance = cutoffs.flatMap((cutoff, i) => {
    const base = 900 + i * 35;
    const pos = Math.round(base * (0.18 + 0.01 * Math.sin(i)));
    const cen = i >= 10 ? Math.round(base * (i === 11 ? 0.62 : 0.27)) : 0;
    const pos2 = Math.round(base * 0.41);
    return [
      { label_name: 'completes_within_30d', cutoff, positives: pos, negatives: base - pos - cen, censored: cen },
      { label_name: 'drops_out_60d', cutoff, positives: pos2, negatives: base - pos2 - (i >= 9 ? Math.round(base * 0.2 * (i - 8)) : 0), censored: i >= 9 ? Math.round(base * 0.2 * (i - 8)) : 0 },
    ];
  });
  const features: RunReport['features'] = [
    { name: 'active_days_28d', description: 'Days with any learning activity in the 28 days before the cutoff.', histogram: histogram(rand, 0, 28, 14, 9000, (u) => u ** 1.8), nulls: 0 },
    { name: 'minutes_28d', description: 'Minutes of learning time in the 28 days before the cutoff.', histogram: histogram(rand, 0, 1200, 20, 9000, (u) => u ** 3), nulls: 0 },
    { name: 'sessions_28d', description: 'Learning sessions in the 28 days before the cutoff.', histogram: histogram(rand, 0, 60, 15, 9000, (u) => u ** 2.2), nulls: 0 },
    { name: 'quiz_mean_score', description: 'Mean scaled quiz score (0–1) over the last 90 days; null without quizzes.', histogram: histogram(rand, 0, 1, 20, 6400, (u) => 0.55 + 0.4 * (u - 0.5) + 0.2 * (rand() - 0.5)), nulls: 2600 },
    { name: 'days_since_last_event', description: 'Days between the last event and the cutoff.', histogram: histogram(rand, 0, 180, 18, 8700, (u) => u ** 2.5), nulls: 300 },
    { name: 'tenure_days', description: 'Days since hire (HR record valid at the cutoff).', histogram: histogram(rand, 0, 7300, 20, 9000, (u) => u ** 1.4), nulls: 0 },
    { name: 'enrollments_open', description: 'Enrollments open at the cutoff.', histogram: histogram(rand, 0, 12, 12, 9000, (u) => u ** 2), nulls: 0 },
    { name: 'attempts_per_quiz', description: 'Mean attempts per quiz started in the last 90 days.', histogram: histogram(rand, 1, 5, 16, 6400, (u) => u ** 3), nulls: 2600 },
  ];
  return {
    run_id: '2024-12-01-3f9a1c2e',
    as_of: '2024-12-01',
    learnpipe_version: '0.1.0',
    generated_note: 'sample report rendered by the test suite',
    reconciliation: [
      { source: 'hris', target: 'hr_records', rows_read: 1_204, accepted: 1_198, duplicates: 0, conflicts: 2, rejected: 6, late: 0, dst_gap: 0, dst_overlap: 0, reconciled: true },
      { source: 'lms_events', target: 'events', rows_read: 1_482_113, accepted: 1_471_950, duplicates: 8_204, conflicts: 37, rejected: 1_959, late: 412, dst_gap: 3, dst_overlap: 11, reconciled: true },
      { source: 'moodle_enrol', target: 'enrollments', rows_read: 24_310, accepted: 24_101, duplicates: 180, conflicts: 0, rejected: 29, late: 0, dst_gap: 0, dst_overlap: 0, reconciled: true },
      { source: 'xapi_lrs', target: 'events', rows_read: 310_877, accepted: 301_444, duplicates: 6_120, conflicts: 4, rejected: 3_313, late: 96, dst_gap: 0, dst_overlap: 2, reconciled: true },
    ],
    rejects_by_reason: { bad_timestamp: 1_201, unknown_verb: 2_044, missing_user: 1_410, malformed_line: 388, score_out_of_range: 164, '<script>alert(1)</script>': 0, future_timestamp: 100 },
    identity: [
      { source: 'hris', keys: 1_198, matched: 1_198, rate: 1 },
      { source: 'lms_events', keys: 1_031, matched: 1_004, rate: 1_004 / 1_031 },
      { source: 'xapi_lrs', keys: 987, matched: 912, rate: 912 / 987 },
    ],
    qa: [
      { check_name: 'schema', subject: 'events', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: 'columns and types match the canonical schema' },
      { check_name: 'unique_key', subject: 'training', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: null },
      { check_name: 'null_rate', subject: 'users.department', severity: 'warn', status: 'fail', value: 0.087, threshold: '<= 0.05', detail: '8.7% of users have no department' },
      { check_name: 'value_range', subject: 'assessments.score', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: 'scores within [0, max_score]' },
      { check_name: 'referential_integrity', subject: 'events.user_id → users', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: null },
      { check_name: 'freshness', subject: 'xapi_lrs', severity: 'error', status: 'fail', value: 9.5, threshold: '<= 2 days', detail: 'newest event 2024-11-21T12:00:00Z is 9.5 days before --as-of' },
      { check_name: 'volume_change', subject: 'lms_events', severity: 'warn', status: 'pass', value: 0.06, threshold: '|Δ| <= 0.5', detail: '+6% rows vs previous run' },
      { check_name: 'reject_rate', subject: 'xapi_lrs', severity: 'warn', status: 'pass', value: 0.0107, threshold: '<= 0.02', detail: null },
      { check_name: 'identity_match_rate', subject: 'xapi_lrs', severity: 'warn', status: 'pass', value: 0.924, threshold: '>= 0.9', detail: null },
      { check_name: 'label_positive_rate', subject: 'completes_within_30d', severity: 'warn', status: 'pass', value: 0.18, threshold: '[0.01, 0.99]', detail: null },
      { check_name: 'leakage', subject: 'quiz_mean_score', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: 'no source row at or after its cutoff' },
      { check_name: 'drift_psi', subject: 'minutes_28d', severity: 'warn', status: 'fail', value: 0.31, threshold: '< 0.25', detail: 'distribution shifted against run 2024-11-01-77ab01d2' },
      { check_name: 'duplicate_rows', subject: 'training', severity: 'error', status: 'pass', value: 0, threshold: '= 0', detail: null },
    ],
    label_balance,
    features,
    drift: [
      { feature: 'active_days_28d', psi: 0.021 },
      { feature: 'minutes_28d', psi: 0.31 },
      { feature: 'sessions_28d', psi: 0.142 },
      { feature: 'quiz_mean_score', psi: 0.008 },
      { feature: 'days_since_last_event', psi: 0.047 },
      { feature: 'tenure_days', psi: 0.003 },
      { feature: 'enrollments_open', psi: 0.066 },
      { feature: 'attempts_per_quiz', psi: null },
    ],
    lineage: {
      inputs: [
        { id: 'in:hris', label: 'hris', detail: 'raw/hris_2024-12-01.csv · sha256 9c1e…' },
        { id: 'in:lms', label: 'lms_events', detail: 'raw/lms/*.csv · 14 files' },
        { id: 'in:enrol', label: 'moodle_enrol', detail: 'raw/enrol.jsonl · sha256 04be…' },
        { id: 'in:xapi', label: 'xapi_lrs', detail: 'watermark 2024-11-01 → 2024-11-21' },
      ],
      stages: [
        { id: 'ingest', label: 'ingest + normalise', detail: '1,818,504 rows read' },
        { id: 'identity', label: 'identity resolution', detail: '1,031 people' },
        { id: 'tiles', label: 'feature tiles', detail: 'user_day, sessions' },
        { id: 'labels', label: 'labels', detail: '2 definitions' },
        { id: 'features', label: 'point-in-time features', detail: '8 features × 12 cutoffs' },
        { id: 'training', label: 'training table', detail: '11,640 rows' },
        { id: 'qa', label: 'QA gate', detail: '13 checks · 1 error failed' },
      ],
      outputs: [
        { id: 'out:train', label: 'training.parquet', detail: 'sha256 5be0…' },
        { id: 'out:qa', label: 'qa.json', detail: '13 results' },
        { id: 'out:manifest', label: 'manifest.json', detail: 'inputs, hashes, counts' },
        { id: 'out:report', label: 'report.html', detail: 'this report' },
      ],
      edges: [
        ['in:hris', 'ingest'],
        ['in:lms', 'ingest'],
        ['in:enrol', 'ingest'],
        ['in:xapi', 'ingest'],
        ['ingest', 'identity'],
        ['identity', 'tiles'],
        ['identity', 'labels'],
        ['tiles', 'features'],
        ['features', 'training'],
        ['labels', 'training'],
        ['training', 'qa'],
        ['qa', 'out:train'],
        ['qa', 'out:qa'],
        ['qa', 'out:manifest'],
        ['qa', 'out:report'],
      ],
    },
    model: {
      roc: Array.from({ length: 41 }, (_, i) => {
        const x = i / 40;
        return [x, Math.min(1, 1 - (1 - x) ** 2.6)] as [number, number];
      }),
      pr: Array.from({ length: 41 }, (_, i) => {
        const r = i / 40;
        return [r, Math.max(0.18, 0.92 - 0.74 * r ** 1.7)] as [number, number];
      }),
      reliability: [
        ...Array.from({ length: 10 }, (_, i) => ({ bin: i, predicted: (i + 0.5) / 10, observed: Math.min(1, ((i + 0.5) / 10) ** 1.45), count: 1600 - i * 140, calibrated: false })),
        ...Array.from({ length: 10 }, (_, i) => ({ bin: i, predicted: (i + 0.5) / 10, observed: Math.min(1, (i + 0.5) / 10 + (i % 2 ? 0.015 : -0.012)), count: 1600 - i * 140, calibrated: true })),
      ],
      metrics: { roc_auc: 0.8123, pr_auc: 0.5471, brier: 0.1184, log_loss: 0.3712, ece: 0.0142 },
    },
  };
}

const EXPECTED_CHARTS = [
  'reconciliation',
  'rejects',
  'label-balance:completes_within_30d',
  'label-balance:drops_out_60d',
  ...sampleReport().features.map((f) => `histogram:${f.name}`),
  'drift',
  'lineage',
  'roc',
  'pr',
  'reliability',
];

test('report: text is HTML-escaped everywhere', () => {
  assert.equal(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  assert.equal(escapeHtml('bell\u0007'), 'bell');
  const evil = '<img src=x onerror=alert(1)>';
  const r = sampleReport();
  r.run_id = `run-${evil}`;
  r.generated_note = evil;
  r.reconciliation[0]!.source = evil;
  r.rejects_by_reason[evil] = 3;
  r.qa[0]!.detail = evil;
  r.qa[1]!.subject = `"${evil}"`;
  r.features[0]!.name = evil;
  r.features[0]!.description = evil;
  r.drift[0]!.feature = evil;
  r.label_balance[0]!.label_name = evil;
  r.lineage.inputs[0]!.label = evil;
  r.lineage.stages[0]!.detail = evil;
  const html = renderReport(r);
  assert.ok(!html.includes('<img'), 'no raw tag from the data');
  assert.ok(!html.includes('<script'), 'no script at all');
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  // Only the elements the renderer writes itself.
  const tags = new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
  const allowed = ['html', 'head', 'meta', 'link', 'title', 'style', 'body', 'div', 'header', 'h1', 'h2', 'h3', 'p', 'strong', 'code', 'nav', 'a', 'section', 'figure', 'figcaption', 'svg', 'defs', 'marker', 'path', 'rect', 'line', 'text', 'g', 'circle', 'span', 'i', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td', 'footer'];
  assert.deepEqual([...tags].filter((t) => !allowed.includes(t)), []);
});

test('report: deterministic, self-contained, sections and QA order', () => {
  const a = renderReport(sampleReport());
  assert.equal(a, renderReport(sampleReport()), 'same input, same bytes');
  assert.doesNotMatch(a, /(src|href)\s*=\s*"(https?:)?\/\//i, 'no external references');
  assert.doesNotMatch(a, /@import|url\((?!#)/i, 'no CSS fetches');
  for (const name of EXPECTED_CHARTS) assert.ok(a.includes(`data-chart="${escapeHtml(name)}"`), name);
  for (const id of ['loads', 'rejects', 'qa', 'labels', 'features', 'drift', 'lineage', 'model']) assert.ok(a.includes(`<section id="${id}">`), id);
  assert.match(a, /data-verdict="blocked"/);

  const sorted = sortQa(sampleReport().qa);
  assert.deepEqual(
    sorted.slice(0, 3).map((q) => [q.check_name, q.severity, q.status]),
    [
      ['freshness', 'error', 'fail'],
      ['drift_psi', 'warn', 'fail'],
      ['null_rate', 'warn', 'fail'],
    ],
  );
  assert.ok(a.indexOf('newest event 2024-11-21') < a.indexOf('columns and types match'), 'failed checks come first in the table');
  assert.equal(qaVerdict([]), 'unchecked');
  assert.equal(qaVerdict(sampleReport().qa.filter((q) => q.severity === 'warn')), 'warnings');
  assert.equal(qaVerdict(sampleReport().qa.filter((q) => q.status === 'pass')), 'passed');
  assert.equal(formatNumber(1482113), '1,482,113');
  assert.equal(formatNumber(0.08712), '0.08712');
  assert.equal(formatNumber(null), '—');
});

test('report: empty sections render messages instead of charts; model section is optional', () => {
  const r: RunReport = {
    run_id: 'r0',
    as_of: '2024-01-01',
    learnpipe_version: '0.1.0',
    reconciliation: [],
    rejects_by_reason: {},
    identity: [],
    qa: [],
    label_balance: [],
    features: [],
    drift: [],
    lineage: { inputs: [], stages: [], outputs: [], edges: [] },
  };
  const html = renderReport(r);
  assert.doesNotMatch(html, /<svg/);
  assert.doesNotMatch(html, /id="model"/);
  assert.match(html, /No rows were rejected/);
  assert.match(html, /data-verdict="unchecked"/);
});

test('report: lineage layout puts inputs first, outputs last and stages in dependency order', () => {
  const L = layoutLineage(sampleReport().lineage);
  const layer = Object.fromEntries(L.nodes.map((x) => [x.id, x.layer]));
  assert.equal(layer['in:hris'], 0);
  assert.equal(layer.ingest, 1);
  assert.equal(layer.identity, 2);
  assert.ok(layer.features! > layer.tiles!);
  assert.ok(layer.training! > layer.features! && layer.training! > layer.labels!);
  assert.equal(layer['out:train'], L.layers - 1);
  // A cycle and dangling edges do not hang or crash the layout.
  const cyc = layoutLineage({ inputs: [{ id: 'a', label: 'a', detail: '' }], stages: [{ id: 'b', label: 'b', detail: '' }, { id: 'c', label: 'c', detail: '' }], outputs: [], edges: [['a', 'b'], ['b', 'c'], ['c', 'b'], ['x', 'b']] });
  assert.equal(cyc.edges.length, 3);
});

test('report: renders in headless Chromium with every chart drawn and no network', { skip: SKIP, timeout: 180_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = tmpDir('learnpipe-report-');
  const file = path.join(dir, 'report.html');
  writeFileSync(file, renderReport(sampleReport()));
  const fileUrl = pathToFileURL(file).href;

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (req) => requests.push(req.url()));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));

    await page.goto(fileUrl, { waitUntil: 'load' });
    assert.equal(await page.title(), 'learnpipe report · 2024-12-01-3f9a1c2e · 2024-12-01');

    for (const name of EXPECTED_CHARTS) {
      const info = await page.evaluate((chart) => {
        const svg = [...document.querySelectorAll('svg.chart')].find((s) => s.getAttribute('data-chart') === chart);
        if (!svg) return null;
        const box = svg.getBoundingClientRect();
        const shapes = [...svg.querySelectorAll('rect, path, line, circle')];
        const drawn = shapes.filter((el) => {
          const b = el.getBoundingClientRect();
          return b.width > 0 || b.height > 0;
        });
        return { width: box.width, height: box.height, shapes: shapes.length, drawn: drawn.length };
      }, name);
      assert.ok(info, `chart ${name} is on the page`);
      assert.ok(info.width > 0 && info.height > 0, `chart ${name} has a size: ${JSON.stringify(info)}`);
      assert.ok(info.shapes > 0 && info.drawn > 0, `chart ${name} draws shapes: ${JSON.stringify(info)}`);
    }
    // Bars really have extent, lineage boxes and arrows are all drawn.
    const rejectBars = await page.locator('svg[data-chart="rejects"] rect').count();
    assert.equal(rejectBars, 6, 'one bar per reason with rows');
    assert.equal(await page.locator('svg[data-chart="lineage"] g.node').count(), 15);
    assert.equal(await page.locator('svg[data-chart="lineage"] path.edge').count(), 15);
    assert.equal(await page.locator('section#qa tbody tr').first().locator('code').textContent(), 'freshness');

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Phone width: the page itself never scrolls sideways (wide tables and the lineage scroll in place).
    await page.setViewportSize({ width: 390, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal page overflow at 390px (got ${overflow}px)`);

    assert.deepEqual(problems, []);
    assert.deepEqual([...new Set(requests)], [fileUrl], 'the only request is the report file itself');
    await context.close();
  } finally {
    await browser.close();
  }
});
