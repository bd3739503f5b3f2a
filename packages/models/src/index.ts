/** @flashgrad/models: a GPT-2 that trains, samples and checkpoints from a terminal. */
export { GPT, type ForwardOptions, type ForwardResult, type TokenBatch } from './gpt.js';
export {
  presets, validateConfig, countParameters, isPresetName, ConfigError,
  type GPTConfig, type Preset, type PresetName, type TrainDefaults,
} from './config.js';
export { sample, sampleText, pickToken, type SampleOptions } from './sample.js';
export { CharTokenizer, Gpt2Tokenizer, tokenizerFromJSON, type Tokenizer } from './tokenizer.js';
export {
  loadText, splitTrainVal, BatchSampler,
  type LoadedText, type Batch, type BatchSamplerOptions, type BatchSamplerState,
} from './data.js';
export {
  saveCheckpoint, loadCheckpoint, loadWeights, loadOptimizerState, weightsToSafetensors, optimizerToSafetensors,
  namedWeights, nanoGptName, CheckpointError, NonFiniteError, firstNonFinite, type LoadedCheckpoint, type SaveCheckpointOptions,
} from './checkpoint.js';
export { readSafetensors, writeSafetensors, type F32Tensor, type Safetensors } from './safetensors.js';
export { saveCheckpointFiles, loadCheckpointFiles, writeFileAtomic, CHECKPOINT_FILES, type CheckpointFiles } from './checkpoint-io.js';
export {
  train, DivergedError, resolveSettings, savedSettings, savedTrainState, estimateLoss, evaluateSplit, smoothCurve, writeLossPlot, defaultSettings,
  type TrainOptions, type TrainResult, type TrainSettings, type StepInfo,
} from './train.js';
export { validateTrainState, checkSettings, type TrainState } from './train-state.js';
export { Progress, formatDuration, type ProgressOptions, type ProgressStream } from './progress.js';
export { lossCurveSvg, type LossCurves, type Point, type PlotOptions } from './plot.js';
export { parseArgs, usage, UsageError, type ArgsSpec, type ParsedArgs } from './cli-args.js';
export { InputError, runCommand, EXIT, type CliIO } from './cli/common.js';
export { main as trainMain, runTrain, trainFlags, type TrainRun } from './cli/train.js';
export { main as sampleMain, runSample, sampleFlags } from './cli/sample.js';
export { main as benchTrainMain, runBench, benchPreset, flopsPerStep, type TrainBenchRow } from './cli/bench-train.js';
