/**
 * @flashgrad/attention: `flashAttention` (tiled forward with an online softmax, backward by
 * recomputation from O and the row logsumexp, nothing N × N in memory) and `naiveAttention`, the
 * materialising oracle it is tested against. Both take q [B, H, Nq, d], k and v [B, H, Nk, d].
 */
export { flashAttention, defaultBlockSize, isGpuDevice, DEFAULT_BLOCK_SIZE, GPU_SCRATCH_ELEMENTS, type FlashAttentionOptions } from './flash.js';
export { naiveAttention, type AttentionOptions, type AttentionWithLse } from './naive.js';
