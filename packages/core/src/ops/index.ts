import './methods.js';

export * from './elementwise.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './movement.js';
export * from './indexing.js';
export * from './nn.js';
export * from './online-softmax.js';
export { differentiableOps } from './op.js';
export { backward } from '../autograd.js';
