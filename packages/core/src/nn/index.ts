export { Module } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout } from './layers.js';
