export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD } from './sgd.js';
export { AdamW, type AdamWOptions, type AdamWState } from './adamw.js';
export { clipGradNorm } from './clip.js';
export { cosineWithWarmup } from './schedule.js';
