// Renders a run's report as ONE self-contained HTML file: inline CSS, charts drawn here as inline SVG,
// no scripts, no fonts or images from anywhere (a Content-Security-Policy forbids any fetch). The output
// depends only on the RunReport given, so the same run always renders the same bytes.
import type { ReportFeature, ReportLabelBalanceRow, ReportLineage, ReportQaRow, ReportReliabilityBin, RunReport } from './report-model.js';

export type { RunReport } from './report-model.js';

// ---------------------------------------------------------------------------------------------------
// Text and numbers

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/SVG element content and (quoted) attribute values. */
export function escapeHtml(value: unknown): string {
  // Control characters other than tab/newline are not allowed in HTML or XML text: drop them.
  // eslint-disable-next-line no-control-regex
  return String(value ?? '').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
const h = escapeHtml;

function finite(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Integers with thousands separators; other numbers with up to 4 significant digits. Locale-independent. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  const sign = x < 0 ? '−' : '';
  const a = Math.abs(x);
  if (Number.isInteger(a) || a >= 1000) return sign + groupThousands(String(Math.round(a)));
  if (a === 0) return '0';
  if (a < 1e-4) return sign + a.toExponential(2);
  const s = a.toPrecision(4);
  return sign + (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
}

/** Compact form for axis labels: 1.2k, 3.4M. */
function formatCompact(x: number): string {
  const a = Math.abs(x);
  const sign = x < 0 ? '−' : '';
  const strip = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (a >= 1e9) return sign + strip((a / 1e9).toFixed(1)) + 'G';
  if (a >= 1e6) return sign + strip((a / 1e6).toFixed(1)) + 'M';
  if (a >= 1e4) return sign + strip((a / 1e3).toFixed(1)) + 'k';
  return formatNumber(x);
}

function formatPercent(x: number | null | undefined, digits = 1): string {
  if (!finite(x)) return '—';
  return (x * 100).toFixed(digits) + '%';
}

/** SVG coordinate: at most 2 decimals, no "-0". */
function n(x: number): string {
  const r = Math.round((finite(x) ? x : 0) * 100) / 100;
  return String(r === 0 ? 0 : r);
}

function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, Math.max(1, max - 1)).join('') + '…';
}

function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Nice round axis ticks from 0 to at least `max`. */
function niceTicks(max: number, target = 4): number[] {
  if (!finite(max) || max <= 0) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks[ticks.length - 1]! < max) ticks.push(ticks[ticks.length - 1]! + step);
  return ticks;
}

// ---------------------------------------------------------------------------------------------------
// Palette (fills are attributes, so the SVG stays correct if copied out of the page)

const C = {
  ink: '#1f2933',
  muted: '#616e7c',
  grid: '#e4e7eb',
  axis: '#9aa5b1',
  accepted: '#2f855a',
  duplicates: '#90a4ae',
  rejected: '#c53030',
  positives: '#2b6cb0',
  negatives: '#b8c2cc',
  censored: '#dd9a2b',
  bar: '#3f6fb5',
  ok: '#38a169',
  warn: '#d69e2e',
  bad: '#c53030',
  before: '#dd6b20',
  after: '#2b6cb0',
  input: '#ebf4ff',
  inputStroke: '#5a8ed0',
  stage: '#f5f7fa',
  stageStroke: '#7b8794',
  output: '#e6f6ec',
  outputStroke: '#3c9d66',
};

/** viewBox width of a full-width chart: about the content width of a section on a wide screen (drawn near 1:1). */
const FULL_W = 960;

function svgOpen(name: string, width: number, height: number, title: string, extraClass = ''): string {
  return `<svg class="chart${extraClass ? ' ' + extraClass : ''}" data-chart="${h(name)}" viewBox="0 0 ${n(width)} ${n(height)}" width="${n(width)}" height="${n(height)}" role="img" aria-label="${h(title)}" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">`;
}

function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${h(typeof v === 'number' ? n(v) : v)}"`)
    .join('');
  return `<text x="${n(x)}" y="${n(y)}"${a}>${h(content)}</text>`;
}

function rect(x: number, y: number, w: number, hgt: number, fill: string, tip?: string, extra = ''): string {
  const body = `<rect x="${n(x)}" y="${n(y)}" width="${n(Math.max(0, w))}" height="${n(Math.max(0, hgt))}" fill="${fill}"${extra}`;
  return tip === undefined ? body + '/>' : body + `><title>${h(tip)}</title></rect>`;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, extra = ''): string {
  return `<line x1="${n(x1)}" y1="${n(y1)}" x2="${n(x2)}" y2="${n(y2)}" stroke="${stroke}"${extra}/>`;
}

function legend(items: Array<[string, string]>): string {
  return `<div class="legend">${items.map(([color, label]) => `<span><i style="background:${color}"></i>${h(label)}</span>`).join('')}</div>`;
}

function empty(message: string): string {
  return `<p class="empty">${h(message)}</p>`;
}

// ---------------------------------------------------------------------------------------------------
// Charts

/** Horizontal bars, one row per item, sorted as given. */
function horizontalBars(name: string, title: string, items: Array<{ label: string; value: number; color?: string; note?: string }>, opts: { guides?: Array<{ at: number; label: string }>; minMax?: number; format?: (v: number) => string } = {}): string {
  const fmt = opts.format ?? formatNumber;
  const width = FULL_W;
  const labelW = 210;
  const valueW = 90;
  const rowH = 26;
  const top = opts.guides?.length ? 22 : 8;
  const plotX = labelW;
  const plotW = width - labelW - valueW;
  const height = top + items.length * rowH + 8;
  const max = Math.max(opts.minMax ?? 0, ...items.map((i) => (finite(i.value) ? i.value : 0)), 1e-12);
  const parts: string[] = [svgOpen(name, width, height, title)];
  parts.push(line(plotX, top - 4, plotX, height - 4, C.axis));
  for (const g of opts.guides ?? []) {
    const gx = plotX + (g.at / max) * plotW;
    parts.push(line(gx, top - 6, gx, height - 4, C.muted, ' stroke-dasharray="4 3" stroke-width="1"'));
    parts.push(text(gx, top - 10, g.label, { 'text-anchor': 'middle', 'font-size': 11, fill: C.muted }));
  }
  items.forEach((it, i) => {
    const y = top + i * rowH;
    const v = finite(it.value) ? it.value : 0;
    parts.push(text(plotX - 10, y + rowH / 2 + 4, truncate(it.label, 30), { 'text-anchor': 'end', 'font-size': 12.5, fill: C.ink }));
    if (it.note !== undefined) {
      parts.push(text(plotX + 8, y + rowH / 2 + 4, it.note, { 'font-size': 12, fill: C.muted, 'font-style': 'italic' }));
    } else {
      const w = Math.max(v > 0 ? 2 : 0, (v / max) * plotW);
      parts.push(rect(plotX, y + 4, w, rowH - 8, it.color ?? C.bar, `${it.label}: ${fmt(v)}`, ' rx="2"'));
      parts.push(text(plotX + w + 6, y + rowH / 2 + 4, fmt(v), { 'font-size': 12, fill: C.ink }));
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

/** 100%-stacked horizontal bars per source: accepted / duplicates / rejected. */
function reconciliationChart(rows: RunReport['reconciliation']): string {
  const width = FULL_W;
  const labelW = 170;
  const totalW = 120;
  const rowH = 28;
  const height = rows.length * rowH + 8;
  const plotW = width - labelW - totalW;
  const parts: string[] = [svgOpen('reconciliation', width, height, 'Rows read per source, split into accepted, duplicates and rejected')];
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const total = Math.max(0, r.accepted) + Math.max(0, r.duplicates) + Math.max(0, r.rejected);
    parts.push(text(labelW - 10, y + rowH / 2 + 4, truncate(r.source, 24), { 'text-anchor': 'end', 'font-size': 12.5, fill: C.ink }));
    let x = labelW;
    const segs: Array<[number, string, string]> = [
      [r.accepted, C.accepted, 'accepted'],
      [r.duplicates, C.duplicates, 'duplicates'],
      [r.rejected, C.rejected, 'rejected'],
    ];
    if (total === 0) parts.push(rect(x, y + 5, plotW, rowH - 10, C.grid, `${r.source}: no rows read`));
    for (const [v, color, what] of segs) {
      if (!(v > 0) || total === 0) continue;
      const w = (v / total) * plotW;
      parts.push(rect(x, y + 5, w, rowH - 10, color, `${r.source}: ${formatNumber(v)} ${what} (${formatPercent(v / total, 2)})`));
      x += w;
    }
    parts.push(text(labelW + plotW + 8, y + rowH / 2 + 4, `${formatNumber(r.rows_read)} read`, { 'font-size': 12, fill: C.muted }));
  });
  parts.push('</svg>');
  return parts.join('');
}

/** 100%-stacked vertical bars per cutoff: positives / negatives / censored. */
function labelBalanceChart(label: string, rows: ReportLabelBalanceRow[]): string {
  const width = FULL_W;
  const height = 230;
  const left = 46;
  const right = 12;
  const top = 10;
  const bottom = 44;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const parts: string[] = [svgOpen(`label-balance:${label}`, width, height, `Label balance of ${label} per cutoff`)];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + plotH - t * plotH;
    parts.push(line(left, y, left + plotW, y, C.grid));
    parts.push(text(left - 6, y + 4, `${t * 100}%`, { 'text-anchor': 'end', 'font-size': 11, fill: C.muted }));
  }
  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(2, Math.min(48, slot * 0.78));
  const maxLabels = Math.max(1, Math.floor(plotW / 78));
  const every = Math.ceil(rows.length / maxLabels);
  rows.forEach((r, i) => {
    const pos = Math.max(0, r.positives);
    const neg = Math.max(0, r.negatives);
    const cen = Math.max(0, r.censored);
    const total = pos + neg + cen;
    const x = left + i * slot + (slot - barW) / 2;
    const rate = pos + neg > 0 ? pos / (pos + neg) : null;
    const tip = `${label} @ ${r.cutoff}: ${formatNumber(pos)} positive, ${formatNumber(neg)} negative, ${formatNumber(cen)} censored; positive rate ${formatPercent(rate)}`;
    let yBase = top + plotH;
    if (total === 0) parts.push(rect(x, top, barW, plotH, C.grid, tip));
    else
      for (const [v, color] of [
        [pos, C.positives],
        [neg, C.negatives],
        [cen, C.censored],
      ] as Array<[number, string]>) {
        if (v <= 0) continue;
        const hh = (v / total) * plotH;
        parts.push(rect(x, yBase - hh, barW, hh, color, tip));
        yBase -= hh;
      }
    if (i % every === 0) parts.push(text(x + barW / 2, top + plotH + 16, truncate(r.cutoff, 12), { 'text-anchor': 'middle', 'font-size': 11, fill: C.muted }));
    if (i % every === 0) parts.push(text(x + barW / 2, top + plotH + 31, `n=${formatCompact(total)}`, { 'text-anchor': 'middle', 'font-size': 10, fill: C.axis }));
  });
  parts.push(line(left, top + plotH, left + plotW, top + plotH, C.axis));
  parts.push('</svg>');
  return parts.join('');
}

/** One small histogram. */
function histogramChart(f: ReportFeature): string {
  const width = 240;
  const height = 124;
  const left = 8;
  const right = 8;
  const top = 18;
  const bottom = 24;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const counts = (f.histogram?.counts ?? []).map((c) => (finite(c) && c > 0 ? c : 0));
  const edges = (f.histogram?.edges ?? []).filter(finite);
  const max = Math.max(1, ...counts);
  const parts: string[] = [svgOpen(`histogram:${f.name}`, width, height, `Distribution of ${f.name}`, 'small')];
  parts.push(line(left, top + plotH, left + plotW, top + plotH, C.axis));
  const bw = plotW / Math.max(1, counts.length);
  counts.forEach((c, i) => {
    const hh = (c / max) * plotH;
    const lo = edges[i];
    const hi = edges[i + 1];
    const range = lo !== undefined && hi !== undefined ? `[${formatNumber(lo)}, ${formatNumber(hi)})` : `bin ${i + 1}`;
    parts.push(rect(left + i * bw + 0.5, top + plotH - hh, Math.max(1, bw - 1), hh, C.bar, `${f.name} ${range}: ${formatNumber(c)}`));
  });
  parts.push(text(left + plotW, top - 6, `max ${formatCompact(max)}`, { 'text-anchor': 'end', 'font-size': 10.5, fill: C.muted }));
  if (edges.length >= 2) {
    parts.push(text(left, height - 7, formatCompact(edges[0]!), { 'font-size': 11, fill: C.muted }));
    parts.push(text(left + plotW, height - 7, formatCompact(edges[edges.length - 1]!), { 'text-anchor': 'end', 'font-size': 11, fill: C.muted }));
  }
  parts.push('</svg>');
  return parts.join('');
}

/** A unit-square line chart (ROC, PR, reliability). */
function unitChart(name: string, title: string, xLabel: string, yLabel: string, body: (px: (x: number) => number, py: (y: number) => number) => string[], diagonal: 'up' | 'none'): string {
  const width = 340;
  const height = 320;
  const left = 46;
  const right = 14;
  const top = 12;
  const bottom = 44;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const px = (x: number) => left + Math.min(1, Math.max(0, x)) * plotW;
  const py = (y: number) => top + plotH - Math.min(1, Math.max(0, y)) * plotH;
  const parts: string[] = [svgOpen(name, width, height, title, 'square')];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(line(px(t), top, px(t), top + plotH, C.grid));
    parts.push(line(left, py(t), left + plotW, py(t), C.grid));
    parts.push(text(px(t), top + plotH + 15, String(t), { 'text-anchor': 'middle', 'font-size': 10.5, fill: C.muted }));
    parts.push(text(left - 6, py(t) + 4, String(t), { 'text-anchor': 'end', 'font-size': 10.5, fill: C.muted }));
  }
  parts.push(`<rect x="${n(left)}" y="${n(top)}" width="${n(plotW)}" height="${n(plotH)}" fill="none" stroke="${C.axis}"/>`);
  if (diagonal === 'up') parts.push(line(px(0), py(0), px(1), py(1), C.axis, ' stroke-dasharray="4 4"'));
  parts.push(...body(px, py));
  parts.push(text(left + plotW / 2, height - 8, xLabel, { 'text-anchor': 'middle', 'font-size': 11.5, fill: C.ink }));
  parts.push(text(14, top + plotH / 2, yLabel, { 'text-anchor': 'middle', 'font-size': 11.5, fill: C.ink, transform: `rotate(-90 14 ${n(top + plotH / 2)})` }));
  parts.push('</svg>');
  return parts.join('');
}

function polyline(points: Array<[number, number]>, px: (x: number) => number, py: (y: number) => number, color: string, tip: string): string {
  const pts = points.filter(([x, y]) => finite(x) && finite(y));
  if (pts.length === 0) return '';
  const d = pts.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${n(px(x))} ${n(py(y))}`).join('');
  return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2.2" stroke-linejoin="round"><title>${h(tip)}</title></path>`;
}

function reliabilityChart(bins: ReportReliabilityBin[]): { svg: string; legend: string } {
  const hasAfter = bins.some((b) => b.calibrated === true);
  const series: Array<{ name: string; color: string; bins: ReportReliabilityBin[] }> = hasAfter
    ? [
        { name: 'before calibration', color: C.before, bins: bins.filter((b) => b.calibrated !== true) },
        { name: 'after calibration', color: C.after, bins: bins.filter((b) => b.calibrated === true) },
      ]
    : [{ name: 'model', color: C.after, bins }];
  const maxCount = Math.max(1, ...bins.map((b) => (finite(b.count) ? b.count : 0)));
  const svg = unitChart(
    'reliability',
    'Reliability: observed positive rate against mean predicted probability',
    'mean predicted probability',
    'observed positive rate',
    (px, py) => {
      const out: string[] = [];
      for (const s of series) {
        const sorted = s.bins.filter((b) => finite(b.predicted) && finite(b.observed)).sort((a, b) => a.predicted - b.predicted || a.bin - b.bin);
        out.push(polyline(sorted.map((b) => [b.predicted, b.observed]), px, py, s.color, s.name));
        for (const b of sorted) {
          const r = 2.5 + 4 * Math.sqrt(Math.max(0, b.count) / maxCount);
          out.push(`<circle cx="${n(px(b.predicted))}" cy="${n(py(b.observed))}" r="${n(r)}" fill="${s.color}" fill-opacity="0.85" stroke="#fff" stroke-width="1"><title>${h(`${s.name}, bin ${b.bin}: predicted ${formatNumber(b.predicted)}, observed ${formatNumber(b.observed)}, n=${formatNumber(b.count)}`)}</title></circle>`);
        }
      }
      return out;
    },
    'up',
  );
  return { svg, legend: legend([...series.map((s): [string, string] => [s.color, s.name]), [C.axis, 'perfect calibration']]) };
}

// ---------------------------------------------------------------------------------------------------
// Lineage graph: layered top to bottom (inputs on the first band, outputs on the last, each stage one band
// below the furthest stage it depends on); a band with many nodes wraps into several rows.

export interface PlacedNode {
  id: string;
  label: string;
  detail: string;
  kind: 'input' | 'stage' | 'output';
  layer: number;
  order: number;
  x: number;
  y: number;
}

export interface LineageLayout {
  nodes: PlacedNode[];
  edges: Array<[PlacedNode, PlacedNode]>;
  width: number;
  height: number;
  layers: number;
  /** Vertical extent [top, bottom] of each layer band. */
  bands: Array<[number, number]>;
  boxW: number;
  boxH: number;
}

const LIN = { boxW: 184, boxH: 50, gapX: 18, rowGap: 14, layerGap: 38, gutter: 92, pad: 8, perRow: 5 };

export function layoutLineage(lin: ReportLineage): LineageLayout {
  const { boxW, boxH, gapX, rowGap, layerGap, gutter, pad, perRow } = LIN;
  const byId = new Map<string, PlacedNode>();
  const add = (kind: PlacedNode['kind'], list: ReportLineage['inputs']) => {
    for (const nd of list ?? []) {
      if (byId.has(nd.id)) continue;
      byId.set(nd.id, { id: nd.id, label: nd.label, detail: nd.detail, kind, layer: 0, order: byId.size, x: 0, y: 0 });
    }
  };
  add('input', lin.inputs);
  add('stage', lin.stages);
  add('output', lin.outputs);
  const edges = (lin.edges ?? []).filter(([a, b]) => a !== b && byId.has(a) && byId.has(b)).map(([a, b]): [PlacedNode, PlacedNode] => [byId.get(a)!, byId.get(b)!]);
  const nodes = [...byId.values()];
  const hasInputs = nodes.some((x) => x.kind === 'input');
  const stages = nodes.filter((x) => x.kind === 'stage');
  const first = hasInputs ? 1 : 0;
  for (const s of stages) s.layer = first;
  // Longest path from the inputs (bounded passes, so a cycle cannot loop forever).
  for (let pass = 0; pass < stages.length; pass++) {
    let changed = false;
    for (const [a, b] of edges) {
      if (b.kind !== 'stage' || a.kind === 'output') continue;
      const want = Math.min(first + stages.length - 1, a.layer + 1);
      if (want > b.layer) {
        b.layer = want;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const lastStage = stages.length ? Math.max(...stages.map((s) => s.layer)) : first - 1;
  for (const o of nodes) if (o.kind === 'output') o.layer = lastStage + 1;
  const layers = nodes.length ? Math.max(...nodes.map((x) => x.layer)) + 1 : 0;
  const cols: PlacedNode[][] = Array.from({ length: layers }, () => []);
  for (const nd of nodes) cols[nd.layer]!.push(nd);
  const perLine = Math.max(1, Math.min(perRow, ...[Math.max(1, ...cols.map((c) => c.length))]));
  const contentW = perLine * boxW + (perLine - 1) * gapX;
  const width = gutter + contentW + pad * 2 + 14; // room on the right for a lane around full rows
  const bands: Array<[number, number]> = [];
  let y = pad;
  for (let l = 0; l < layers; l++) {
    // Order by the mean x of predecessors (one sweep), ties and orphans by the given order.
    const key = (nd: PlacedNode) => {
      const xs = edges.filter(([a, b]) => b === nd && a.layer < l).map(([a]) => a.x);
      return xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : Number.POSITIVE_INFINITY;
    };
    const col = l === 0 ? cols[0]! : cols[l]!.map((nd) => ({ nd, k: key(nd) })).sort((a, b) => (a.k === b.k ? a.nd.order - b.nd.order : a.k < b.k ? -1 : 1)).map((x) => x.nd);
    cols[l] = col;
    const top = y;
    for (let i = 0; i < col.length; i += perLine) {
      const row = col.slice(i, i + perLine);
      const rowW = row.length * boxW + (row.length - 1) * gapX;
      const x0 = gutter + pad + (contentW - rowW) / 2;
      row.forEach((nd, j) => {
        nd.x = x0 + j * (boxW + gapX);
        nd.y = y;
      });
      y += boxH + rowGap;
    }
    bands.push([top, y - rowGap]);
    y += layerGap - rowGap;
  }
  const height = y - layerGap + pad + (layers ? 0 : pad);
  return { nodes: cols.flat(), edges, width, height: Math.max(height, boxH), layers, bands, boxW, boxH };
}

function lineageChart(lin: ReportLineage): string {
  const L = layoutLineage(lin);
  const { boxW, boxH } = L;
  const parts: string[] = [
    `<svg class="chart lineage" data-chart="lineage" viewBox="0 0 ${n(L.width)} ${n(L.height)}" width="${n(L.width)}" height="${n(L.height)}" role="img" aria-label="Lineage: inputs to stages to outputs" xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet" style="max-width:${n(L.width)}px;min-width:${n(Math.min(600, L.width))}px">`,
    `<defs><marker id="lp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="${C.stageStroke}"/></marker></defs>`,
  ];
  // Band labels in the left gutter, with a bracket spanning the stage bands.
  const bandLabel = (kind: PlacedNode['kind'], label: string, color: string) => {
    const ls = [...new Set(L.nodes.filter((x) => x.kind === kind).map((x) => x.layer))];
    if (!ls.length) return;
    const y0 = L.bands[Math.min(...ls)]![0];
    const y1 = L.bands[Math.max(...ls)]![1];
    parts.push(`<rect x="0" y="${n(y0)}" width="3" height="${n(y1 - y0)}" rx="1.5" fill="${color}"/>`);
    parts.push(text(12, (y0 + y1) / 2 + 4, label, { 'font-size': 11, 'font-weight': 600, fill: C.muted, 'letter-spacing': '0.08em' }));
  };
  bandLabel('input', 'INPUTS', C.inputStroke);
  bandLabel('stage', 'STAGES', C.stageStroke);
  bandLabel('output', 'OUTPUTS', C.outputStroke);
  for (const [a, b] of L.edges) {
    const down = b.layer > a.layer;
    const x1 = a.x + boxW / 2;
    const x2 = b.x + boxW / 2;
    let d: string;
    if (down && b.layer - a.layer > 1) {
      // Skips bands: run down a lane clear of the boxes in between (the source's own x when clear, else
      // to the right of them), entering and leaving the lane with smooth curves.
      const between = L.nodes.filter((x) => x.layer > a.layer && x.layer < b.layer);
      const blocked = (lx: number) => between.some((x) => lx > x.x - 8 && lx < x.x + boxW + 8);
      const lane = !blocked(x1) ? x1 : !blocked(x2) ? x2 : Math.max(...between.map((x) => x.x + boxW)) + 14;
      const y1 = a.y + boxH;
      const y2 = b.y - 2;
      const yA = L.bands[a.layer]![1] + LIN.layerGap / 2;
      const yB = L.bands[b.layer]![0] - LIN.layerGap / 2;
      const k1 = (yA - y1) * 0.6;
      const k2 = (y2 - yB) * 0.6;
      d = `M${n(x1)} ${n(y1)}C${n(x1)} ${n(y1 + k1)} ${n(lane)} ${n(yA - k1)} ${n(lane)} ${n(yA)}L${n(lane)} ${n(yB)}C${n(lane)} ${n(yB + k2)} ${n(x2)} ${n(y2 - k2)} ${n(x2)} ${n(y2)}`;
    } else {
      const y1 = down ? a.y + boxH : a.y;
      const y2 = down ? b.y - 2 : b.y + boxH + 2;
      const dy = Math.max(18, Math.abs(y2 - y1) / 2) * (down ? 1 : -1);
      d = `M${n(x1)} ${n(y1)}C${n(x1)} ${n(y1 + dy)} ${n(x2)} ${n(y2 - dy)} ${n(x2)} ${n(y2)}`;
    }
    parts.push(`<path class="edge" d="${d}" fill="none" stroke="${C.stageStroke}" stroke-width="1.4" stroke-opacity="0.75" marker-end="url(#lp-arrow)"><title>${h(`${a.label} → ${b.label}`)}</title></path>`);
  }
  for (const nd of L.nodes) {
    const [fill, stroke] = nd.kind === 'input' ? [C.input, C.inputStroke] : nd.kind === 'output' ? [C.output, C.outputStroke] : [C.stage, C.stageStroke];
    parts.push(`<g class="node ${nd.kind}"><title>${h(nd.detail ? `${nd.label}\n${nd.detail}` : nd.label)}</title>`);
    parts.push(`<rect x="${n(nd.x)}" y="${n(nd.y)}" width="${boxW}" height="${boxH}" rx="7" fill="${fill}" stroke="${stroke}" stroke-width="1.3"/>`);
    parts.push(text(nd.x + 10, nd.y + (nd.detail ? 21 : boxH / 2 + 4.5), truncate(nd.label, 24), { 'font-size': 12.5, 'font-weight': 600, fill: C.ink }));
    if (nd.detail) parts.push(text(nd.x + 10, nd.y + 38, truncate(nd.detail, 30), { 'font-size': 10.5, fill: C.muted }));
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------
// Sections

export type QaVerdict = 'blocked' | 'warnings' | 'passed' | 'unchecked';

/** blocked: an error-severity check failed; warnings: only warn checks failed. */
export function qaVerdict(qa: ReportQaRow[]): QaVerdict {
  if (!qa.length) return 'unchecked';
  if (qa.some((q) => q.status === 'fail' && q.severity === 'error')) return 'blocked';
  if (qa.some((q) => q.status === 'fail')) return 'warnings';
  return 'passed';
}

const VERDICT_TEXT: Record<QaVerdict, string> = {
  blocked: 'Blocked: outputs not published',
  warnings: 'Passed with warnings',
  passed: 'All checks passed',
  unchecked: 'No QA results',
};

/** Failed errors, failed warnings, then passes; within each by check and subject. */
export function sortQa(qa: ReportQaRow[]): ReportQaRow[] {
  const rank = (q: ReportQaRow) => (q.status === 'fail' ? (q.severity === 'error' ? 0 : 1) : 2);
  return [...qa].sort((a, b) => rank(a) - rank(b) || cmp(a.check_name, b.check_name) || cmp(a.subject, b.subject));
}

function section(id: string, title: string, intro: string, body: string): string {
  return `<section id="${h(id)}"><h2>${h(title)}</h2>${intro ? `<p class="intro">${h(intro)}</p>` : ''}${body}</section>`;
}

function num(x: number | null | undefined): string {
  return `<td class="num">${h(formatNumber(x))}</td>`;
}

function headerSection(r: RunReport, verdict: QaVerdict): string {
  const failedErr = r.qa.filter((q) => q.status === 'fail' && q.severity === 'error').length;
  const failedWarn = r.qa.filter((q) => q.status === 'fail' && q.severity === 'warn').length;
  const read = r.reconciliation.reduce((s, x) => s + (finite(x.rows_read) ? x.rows_read : 0), 0);
  const accepted = r.reconciliation.reduce((s, x) => s + (finite(x.accepted) ? x.accepted : 0), 0);
  const rejected = r.reconciliation.reduce((s, x) => s + (finite(x.rejected) ? x.rejected : 0), 0);
  const kpi = (label: string, value: string, cls = '') => `<div class="kpi${cls ? ' ' + cls : ''}"><div class="kpi-value">${h(value)}</div><div class="kpi-label">${h(label)}</div></div>`;
  return `<header class="top">
<div class="title-row"><div><div class="eyebrow">learnpipe run report</div><h1>Run <code>${h(r.run_id)}</code></h1>
<p class="meta">as of <strong>${h(r.as_of)}</strong> · learnpipe ${h(r.learnpipe_version)}${r.generated_note ? ` · ${h(r.generated_note)}` : ''}</p></div>
<div class="verdict ${verdict}" data-verdict="${verdict}">${h(VERDICT_TEXT[verdict])}</div></div>
<div class="kpis">${kpi('rows read', formatNumber(read))}${kpi('accepted', formatNumber(accepted))}${kpi('rejected', formatNumber(rejected), rejected > 0 ? 'warn' : '')}${kpi('QA checks', formatNumber(r.qa.length))}${kpi('failed errors', formatNumber(failedErr), failedErr > 0 ? 'bad' : '')}${kpi('failed warnings', formatNumber(failedWarn), failedWarn > 0 ? 'warn' : '')}</div>
</header>`;
}

function reconciliationSection(r: RunReport): string {
  if (!r.reconciliation.length) return section('loads', 'Load reconciliation', '', empty('No sources were loaded.'));
  const rows = [...r.reconciliation];
  const total = rows.reduce(
    (t, x) => {
      for (const k of ['rows_read', 'accepted', 'duplicates', 'conflicts', 'rejected', 'late', 'dst_gap', 'dst_overlap'] as const) t[k] += finite(x[k]) ? x[k] : 0;
      t.reconciled = t.reconciled && x.reconciled;
      return t;
    },
    { rows_read: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, late: 0, dst_gap: 0, dst_overlap: 0, reconciled: true },
  );
  const ok = (b: boolean) => (b ? '<td class="center"><span class="pill pass" title="read = accepted + duplicates + rejected">✓</span></td>' : '<td class="center"><span class="pill fail" title="read ≠ accepted + duplicates + rejected">✗</span></td>');
  const body = rows
    .map((x) => `<tr><td>${h(x.source)}</td><td><code>${h(x.target)}</code></td>${num(x.rows_read)}${num(x.accepted)}${num(x.duplicates)}${num(x.conflicts)}${num(x.rejected)}${num(x.late)}${num(x.dst_gap)}${num(x.dst_overlap)}${ok(x.reconciled)}</tr>`)
    .join('\n');
  const table = `<div class="table-wrap"><table class="data">
<thead><tr><th>Source</th><th>Target</th><th class="num">Read</th><th class="num">Accepted</th><th class="num">Duplicates</th><th class="num">Conflicts</th><th class="num">Rejected</th><th class="num">Late</th><th class="num">DST gap</th><th class="num">DST overlap</th><th class="center">Reconciled</th></tr></thead>
<tbody>
${body}
</tbody>
<tfoot><tr><td>Total</td><td></td>${num(total.rows_read)}${num(total.accepted)}${num(total.duplicates)}${num(total.conflicts)}${num(total.rejected)}${num(total.late)}${num(total.dst_gap)}${num(total.dst_overlap)}${ok(total.reconciled)}</tr></tfoot>
</table></div>`;
  const chart = `<figure><div class="chart-scroll">${reconciliationChart(rows)}</div>${legend([
    [C.accepted, 'accepted'],
    [C.duplicates, 'duplicates'],
    [C.rejected, 'rejected'],
  ])}</figure>`;
  let identity = '';
  if (r.identity.length) {
    const idRows = r.identity
      .map((x) => {
        const pct = finite(x.rate) ? Math.max(0, Math.min(1, x.rate)) : 0;
        return `<tr><td>${h(x.source)}</td>${num(x.keys)}${num(x.matched)}<td class="num">${h(formatPercent(x.rate))}</td><td class="meter-cell"><span class="meter"><span style="width:${(pct * 100).toFixed(1)}%"></span></span></td></tr>`;
      })
      .join('\n');
    identity = `<h3>Identity match rate</h3><p class="intro">Share of the distinct learner keys each source presented that resolved to a person known to HR.</p>
<div class="table-wrap fit"><table class="data narrow"><thead><tr><th>Source</th><th class="num">Keys</th><th class="num">Matched</th><th class="num">Rate</th><th></th></tr></thead><tbody>
${idRows}
</tbody></table></div>`;
  }
  return section('loads', 'Load reconciliation', 'Every row read from a source is accounted for: read = accepted + duplicates + rejected. Conflicts, late rows and DST adjustments are counted among accepted rows.', chart + table + identity);
}

function rejectsSection(r: RunReport): string {
  const items = Object.entries(r.rejects_by_reason ?? {})
    .filter(([, v]) => finite(v) && v > 0)
    .sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
    .map(([label, value]) => ({ label, value, color: C.rejected }));
  const total = items.reduce((s, i) => s + i.value, 0);
  const body = items.length && total > 0 ? `<figure><div class="chart-scroll">${horizontalBars('rejects', 'Rejected rows by reason', items)}</div></figure>` : empty('No rows were rejected.');
  return section('rejects', 'Rejects by reason', items.length ? `${formatNumber(total)} rejected rows in total; each keeps its raw line in the rejects table.` : '', body);
}

function qaSection(r: RunReport): string {
  if (!r.qa.length) return section('qa', 'Quality checks', '', empty('No QA results for this run.'));
  const rows = sortQa(r.qa)
    .map((q) => {
      const cls = q.status === 'fail' ? (q.severity === 'error' ? 'row-fail' : 'row-warn') : '';
      const pill = q.status === 'fail' ? `<span class="pill ${q.severity === 'error' ? 'fail' : 'warn'}">FAIL</span>` : '<span class="pill pass">pass</span>';
      return `<tr${cls ? ` class="${cls}"` : ''}><td class="center">${pill}</td><td><span class="sev ${q.severity}">${h(q.severity)}</span></td><td><code>${h(q.check_name)}</code></td><td>${h(q.subject)}</td>${num(q.value)}<td class="num threshold">${h(q.threshold ?? '—')}</td><td class="detail">${h(q.detail ?? '')}</td></tr>`;
    })
    .join('\n');
  const failed = r.qa.filter((q) => q.status === 'fail').length;
  return section(
    'qa',
    'Quality checks',
    `${formatNumber(r.qa.length)} checks, ${formatNumber(failed)} failed. A failed error-severity check blocks publishing; a failed warning is reported only. Failed checks are listed first.`,
    `<div class="table-wrap"><table class="data qa"><thead><tr><th class="center">Status</th><th>Severity</th><th>Check</th><th>Subject</th><th class="num">Value</th><th class="num">Threshold</th><th>Detail</th></tr></thead><tbody>
${rows}
</tbody></table></div>`,
  );
}

function labelSection(r: RunReport): string {
  const names = [...new Set(r.label_balance.map((x) => x.label_name))].sort(cmp);
  if (!names.length) return section('labels', 'Label balance over time', '', empty('No labels in this run.'));
  const charts = names
    .map((name) => {
      const rows = r.label_balance.filter((x) => x.label_name === name).sort((a, b) => cmp(a.cutoff, b.cutoff));
      const pos = rows.reduce((s, x) => s + Math.max(0, x.positives), 0);
      const neg = rows.reduce((s, x) => s + Math.max(0, x.negatives), 0);
      const cen = rows.reduce((s, x) => s + Math.max(0, x.censored), 0);
      const all = pos + neg + cen;
      return `<figure class="label-chart"><figcaption><code>${h(name)}</code> <span class="muted">· ${h(formatNumber(rows.length))} cutoffs · positive rate ${h(formatPercent(pos + neg > 0 ? pos / (pos + neg) : null))} of labelled rows · censored ${h(formatPercent(all > 0 ? cen / all : null))}</span></figcaption><div class="chart-scroll">${labelBalanceChart(name, rows)}</div></figure>`;
    })
    .join('\n');
  return section(
    'labels',
    'Label balance over time',
    'Share of positive, negative and censored (outcome window not yet over) examples at each cutoff.',
    legend([
      [C.positives, 'positive'],
      [C.negatives, 'negative'],
      [C.censored, 'censored'],
    ]) + charts,
  );
}

function featureSection(r: RunReport): string {
  if (!r.features.length) return section('features', 'Feature distributions', '', empty('No features in this run.'));
  const cards = [...r.features]
    .sort((a, b) => cmp(a.name, b.name))
    .map((f) => {
      const total = (f.histogram?.counts ?? []).reduce((s, c) => s + (finite(c) ? c : 0), 0);
      const nulls = finite(f.nulls) ? f.nulls : 0;
      const nullShare = total + nulls > 0 ? nulls / (total + nulls) : 0;
      return `<div class="card"><div class="card-title"><code>${h(f.name)}</code></div><div class="card-desc">${h(f.description)}</div>${histogramChart(f)}<div class="card-foot">n=${h(formatNumber(total))} · nulls ${h(formatNumber(nulls))}${nulls > 0 ? ` (${h(formatPercent(nullShare))})` : ''}</div></div>`;
    })
    .join('\n');
  return section('features', 'Feature distributions', 'Histogram of each feature across the training table (nulls counted apart).', `<div class="grid">${cards}</div>`);
}

function driftSection(r: RunReport): string {
  if (!r.drift.length) return section('drift', 'Drift', '', empty('No drift measured for this run.'));
  const items = [...r.drift]
    .sort((a, b) => cmp(a.feature, b.feature))
    .map((d) =>
      d.psi === null || !finite(d.psi)
        ? { label: d.feature, value: 0, note: 'no baseline (first published run)' }
        : { label: d.feature, value: d.psi, color: d.psi >= 0.25 ? C.bad : d.psi >= 0.1 ? C.warn : C.ok },
    );
  const maxPsi = Math.max(0, ...items.map((i) => i.value));
  const chart = horizontalBars('drift', 'Population stability index per feature', items, {
    guides: [
      { at: 0.1, label: '0.1' },
      { at: 0.25, label: '0.25' },
    ],
    minMax: Math.max(0.3, maxPsi * 1.08),
    format: (v) => v.toFixed(3),
  });
  return section(
    'drift',
    'Drift',
    'Population stability index (PSI) of each feature against the previous published run. Below 0.1: stable; 0.1–0.25: moderate shift; above 0.25: significant shift.',
    `<figure><div class="chart-scroll">${chart}</div>${legend([
      [C.ok, 'PSI < 0.1'],
      [C.warn, '0.1 – 0.25'],
      [C.bad, '≥ 0.25'],
    ])}</figure>`,
  );
}

function lineageSection(r: RunReport): string {
  const lin = r.lineage ?? { inputs: [], stages: [], outputs: [], edges: [] };
  if (!lin.inputs.length && !lin.stages.length && !lin.outputs.length) return section('lineage', 'Lineage', '', empty('No lineage recorded.'));
  return section('lineage', 'Lineage', 'Which inputs produced this run’s outputs, through which stages. Hover a box for its full detail.', `<figure><div class="chart-scroll">${lineageChart(lin)}</div></figure>${legend([
    [C.inputStroke, 'input'],
    [C.stageStroke, 'stage'],
    [C.outputStroke, 'output'],
  ])}`);
}

function modelSection(r: RunReport): string {
  const m = r.model;
  if (!m) return '';
  const figs: string[] = [];
  if (m.roc?.length) {
    const auc = m.metrics?.roc_auc ?? m.metrics?.rocAuc;
    figs.push(`<figure><figcaption>ROC curve${finite(auc) ? ` · AUC ${h(formatNumber(auc))}` : ''}</figcaption>${unitChart('roc', 'ROC curve', 'false positive rate', 'true positive rate', (px, py) => [polyline(m.roc!, px, py, C.after, 'ROC')], 'up')}</figure>`);
  }
  if (m.pr?.length) {
    const ap = m.metrics?.pr_auc ?? m.metrics?.prAuc ?? m.metrics?.average_precision;
    figs.push(`<figure><figcaption>Precision–recall${finite(ap) ? ` · AP ${h(formatNumber(ap))}` : ''}</figcaption>${unitChart('pr', 'Precision-recall curve', 'recall', 'precision', (px, py) => [polyline(m.pr!, px, py, C.after, 'precision–recall')], 'none')}</figure>`);
  }
  if (m.reliability?.length) {
    const rel = reliabilityChart(m.reliability);
    figs.push(`<figure><figcaption>Reliability</figcaption>${rel.svg}${rel.legend}</figure>`);
  }
  let metrics = '';
  const entries = Object.entries(m.metrics ?? {}).sort((a, b) => cmp(a[0], b[0]));
  if (entries.length) metrics = `<div class="table-wrap fit"><table class="data narrow"><thead><tr><th>Metric</th><th class="num">Value</th></tr></thead><tbody>${entries.map(([k, v]) => `<tr><td><code>${h(k)}</code></td>${num(v)}</tr>`).join('')}</tbody></table></div>`;
  if (!figs.length && !metrics) return '';
  return section('model', 'Model', 'Baseline model evaluated on the held-out split.', `<div class="model-grid">${figs.join('')}</div>${metrics}`);
}

// ---------------------------------------------------------------------------------------------------
// Page

const CSS = `
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--accent:#2b6cb0;--ok:#2f855a;--warn:#b7791f;--bad:#c53030}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;font-size:.88em;background:#eef2f6;border-radius:4px;padding:.08em .35em}
.page{max-width:1200px;margin:0 auto;padding:28px 24px 48px}
header.top{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px 26px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.title-row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;justify-content:space-between}
.eyebrow{font-size:12px;letter-spacing:.09em;text-transform:uppercase;color:var(--muted);font-weight:600}
h1{margin:.15em 0 .1em;font-size:26px;line-height:1.25;font-weight:700;word-break:break-all}
h1 code{font-size:.85em;background:none;padding:0}
.meta{margin:0;color:var(--muted)}
.verdict{padding:8px 14px;border-radius:999px;font-weight:700;font-size:14px;white-space:nowrap;border:1px solid}
.verdict.passed{background:#e6f6ec;color:var(--ok);border-color:#9ad4b0}
.verdict.warnings{background:#fff8e6;color:var(--warn);border-color:#f0d28a}
.verdict.blocked{background:#fdecec;color:var(--bad);border-color:#f1a9a9}
.verdict.unchecked{background:#eef2f6;color:var(--muted);border-color:var(--line)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;margin-top:18px}
.kpi{border:1px solid var(--line);border-radius:10px;padding:10px 14px;background:#fbfcfd}
.kpi-value{font-size:22px;font-weight:700}
.kpi-label{font-size:12.5px;color:var(--muted)}
.kpi.warn .kpi-value{color:var(--warn)}
.kpi.bad .kpi-value{color:var(--bad)}
nav.toc{position:sticky;top:0;z-index:2;background:rgba(245,247,250,.94);backdrop-filter:blur(4px);padding:10px 0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:6px}
nav.toc a{color:var(--ink);text-decoration:none;font-size:13.5px;padding:4px 11px;border-radius:999px;border:1px solid var(--line);background:var(--card)}
nav.toc a:hover{border-color:var(--accent);color:var(--accent)}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 26px 24px;margin-top:18px;box-shadow:0 1px 2px rgba(16,24,40,.04);scroll-margin-top:56px}
h2{margin:0 0 4px;font-size:19px;font-weight:700}
h3{margin:22px 0 4px;font-size:15.5px}
.intro{margin:0 0 14px;color:var(--muted);max-width:80ch}
.muted{color:var(--muted);font-weight:400}
.empty{margin:8px 0 0;padding:14px 16px;border:1px dashed var(--line);border-radius:8px;color:var(--muted)}
figure{margin:0 0 12px}
figcaption{font-weight:600;margin:10px 0 6px;font-size:14px}
svg.chart{display:block;width:100%;height:auto;max-width:100%;font-family:inherit}
svg.chart.small{max-width:none}
svg.chart.square{max-width:380px}
.chart-scroll{overflow-x:auto;overflow-y:hidden}
.chart-scroll>svg.chart{min-width:600px}
svg.chart .edge:hover{stroke-opacity:1;stroke-width:2.4}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:13px;color:var(--muted);margin:6px 0 4px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.table-wrap{overflow-x:auto;margin-top:8px;border:1px solid var(--line);border-radius:8px}
.table-wrap.fit{display:inline-block;max-width:100%;vertical-align:top}
table.data{border-collapse:collapse;width:100%;font-size:13.5px}
table.data.narrow{width:auto}
table.data th{background:#f8fafc;color:var(--muted);font-weight:600;text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.04em;padding:9px 10px;border-bottom:1px solid var(--line);vertical-align:bottom;line-height:1.3}
table.data td{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
table.data tbody tr:nth-child(even){background:#fbfcfd}
table.data tbody tr:last-child td{border-bottom:none}
table.data tfoot td{font-weight:700;border-top:2px solid var(--line);border-bottom:none;background:#f8fafc}
.num{text-align:right!important;white-space:nowrap}
.center{text-align:center!important}
td.detail{color:var(--muted);min-width:220px}
td.threshold{color:var(--muted)}
tr.row-fail{background:#fff5f5!important}
tr.row-warn{background:#fffbeb!important}
.pill{display:inline-block;font-size:12px;font-weight:700;padding:1px 9px;border-radius:999px;white-space:nowrap}
.pill.pass{background:#e6f6ec;color:var(--ok)}
.pill.fail{background:#fde2e2;color:var(--bad)}
.pill.warn{background:#fef3c7;color:var(--warn)}
.sev{font-size:12.5px;font-weight:600}
.sev.error{color:var(--bad)}
.sev.warn{color:var(--warn)}
.meter-cell{vertical-align:middle!important}
.meter{display:block;height:8px;border-radius:4px;background:#edf0f3;overflow:hidden;width:180px;max-width:30vw}
.meter span{display:block;height:100%;background:var(--ok)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:10px;padding:12px 14px 10px;background:#fff}
.card-title{font-weight:600}
.card-desc{font-size:12.5px;color:var(--muted);min-height:2.6em;margin:2px 0 6px;line-height:1.35}
.card-foot{font-size:12px;color:var(--muted);margin-top:2px}
.label-chart{margin-top:14px}
.model-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:18px;align-items:start}
footer{margin-top:28px;color:var(--muted);font-size:12.5px;text-align:center}
@media (max-width:640px){.page{padding:14px 10px 32px}section,header.top{padding:16px 14px}h1{font-size:21px}}
@media print{body{background:#fff}nav.toc{display:none}section,header.top{box-shadow:none;break-inside:avoid-page}}
`;

/** Renders the whole report as one self-contained HTML document. */
export function renderReport(r: RunReport): string {
  const verdict = qaVerdict(r.qa ?? []);
  const sections: Array<[string, string, string]> = [
    ['loads', 'Loads', reconciliationSection(r)],
    ['rejects', 'Rejects', rejectsSection(r)],
    ['qa', 'QA', qaSection(r)],
    ['labels', 'Labels', labelSection(r)],
    ['features', 'Features', featureSection(r)],
    ['drift', 'Drift', driftSection(r)],
    ['lineage', 'Lineage', lineageSection(r)],
    ['model', 'Model', modelSection(r)],
  ];
  const present = sections.filter(([, , html]) => html !== '');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="learnpipe ${h(r.learnpipe_version)}">
<link rel="icon" href="data:,">
<title>${h(`learnpipe report · ${r.run_id} · ${r.as_of}`)}</title>
<style>${CSS}</style>
</head>
<body>
<div class="page">
${headerSection(r, verdict)}
<nav class="toc">${present.map(([id, label]) => `<a href="#${id}">${h(label)}</a>`).join('')}</nav>
${present.map(([, , html]) => html).join('\n')}
<footer>learnpipe ${h(r.learnpipe_version)} · run <code>${h(r.run_id)}</code> · as of ${h(r.as_of)} · self-contained report: no scripts, no network</footer>
</div>
</body>
</html>
`;
}
