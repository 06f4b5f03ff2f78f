// The modelling stages after ingestion: feature tiles → spine → features → labels → training table.
import type { Engine } from './engine/engine.js';
import type { PipelineConfig } from './config/schema.js';
import { updateTiles, type TileUpdate } from './features/tiles.js';
import { buildSpine, computeFeatures, type SpineSummary } from './features/compute.js';
import { resolveFeatures, tileEventTypes, type FeatureSpec } from './features/library.js';
import { computeLabels, type LabelSummary } from './labels/labels.js';
import { buildTraining, type TrainingSummary } from './training/build.js';

export interface ModelingSummary {
  tiles: TileUpdate;
  spine: SpineSummary;
  features: { rows: number; columns: string[]; mode: 'full' | 'incremental'; computed: number };
  labels: LabelSummary[];
  training: TrainingSummary | null;
  /** Seconds per stage. */
  timings: Record<string, number>;
}

export interface StageLog {
  info(event: string, fields?: Record<string, unknown>): void;
}

async function timed<T>(timings: Record<string, number>, name: string, log: StageLog | undefined, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  log?.info(`stage.start`, { stage: name });
  const r = await fn();
  timings[name] = Math.round(performance.now() - t) / 1000;
  log?.info(`stage.done`, { stage: name, seconds: timings[name] });
  return r;
}

/** Runs the stages the config asks for. Without a spine there is nothing to predict at: returns null. */
export async function buildModelingTables(engine: Engine, config: PipelineConfig, asOf: string, log?: StageLog): Promise<{ summary: ModelingSummary; specs: FeatureSpec[] } | null> {
  const specs = resolveFeatures(config.features.definitions);
  const timings: Record<string, number> = {};
  const tiles = await timed(timings, 'tiles', log, () => updateTiles(engine, { sessionGapMinutes: config.features.session_gap_minutes, eventTypes: tileEventTypes(specs) }));
  if (!config.spine) return null;
  const spine = await timed(timings, 'spine', log, () => buildSpine(engine, config.spine!, asOf));
  const features = await timed(timings, 'features', log, () => computeFeatures(engine, specs, { full: tiles.mode === 'full' }));
  const labels = await timed(timings, 'labels', log, () => computeLabels(engine, config.labels, asOf));
  let training: TrainingSummary | null = null;
  if (config.training) {
    const l = labels.find((x) => x.name === config.training!.label)!;
    training = await timed(timings, 'training', log, () => buildTraining(engine, config.training!, specs, l, asOf));
  }
  return { summary: { tiles, spine, features: { rows: features.rows, columns: specs.map((s) => s.name), mode: features.mode, computed: features.computed }, labels, training, timings }, specs };
}
