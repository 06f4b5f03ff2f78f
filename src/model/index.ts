/**
 * Public entry of the numeric model core: preprocessing, L2 logistic / focal
 * regression, calibration, metrics and the calibrated-baseline orchestrator.
 */
export { ModelError } from './types.js';
export type { Cell, RowMajor, ColumnMajor, FeatureMatrix, DesignMatrix } from './types.js';

export { fitPreprocessor, fitTransformPreprocessor, transformRows, MISSING_SUFFIX } from './preprocess.js';
export type {
  Preprocessor, PreprocessOptions, FeatureKind, FeatureSpec, NumericFeatureSpec, CategoricalFeatureSpec,
} from './preprocess.js';

export {
  fitLogistic, predictLogit, predictProba, balancedClassWeights, effectiveWeights, focalRow, sigmoid, softplus,
} from './logistic.js';
export type { LogisticOptions, LogisticModel, ConvergenceInfo, LossKind, ClassWeightMode } from './logistic.js';

export { fitPlatt, applyPlatt, fitIsotonic, applyIsotonic, pava, logit } from './calibration.js';
export type { PlattCalibrator, IsotonicCalibrator } from './calibration.js';

export {
  rocAuc, averagePrecision, logLoss, brierScore, expectedCalibrationError, reliabilityBins,
  rocCurve, prCurve, binaryMetrics, prevalenceBaseline, downsampleCurve,
} from './metrics.js';
export type { BinaryMetrics, ReliabilityBin, RocCurve, PrCurve } from './metrics.js';

export { fitBaseline, scoreRows } from './baseline.js';
export type {
  Split, BaselineOptions, FitBaselineInput, BaselineModel, Evaluation, SplitSummary, TopFeature, CalibrationKind,
} from './baseline.js';
