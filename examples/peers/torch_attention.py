"""PyTorch SDPA (fp32) forward and forward+backward at the attention bench's shape, the anchor for
flashgrad's webgpu figures. Usage: python3 torch_attention.py [B] [H] [N...]"""
import sys, time, torch, torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = False
B, H = int(sys.argv[1]) if len(sys.argv) > 1 else 1, int(sys.argv[2]) if len(sys.argv) > 2 else 1
Ns = [int(n) for n in sys.argv[3:]] or [1024, 4096, 16384]
def timed(fn, runs=20):
    fn(); torch.cuda.synchronize(); ts = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t) * 1e3)
    return sorted(ts)[len(ts) // 2]
for N in Ns:
    for causal in (False, True):
        q, k, v = (torch.randn(B, H, N, 64, device='cuda', requires_grad=True) for _ in range(3))
        fwd = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
        def step():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal); o.backward(torch.ones_like(o))
        both = timed(step)
        print(f"torch sdpa fp32 B={B} H={H} N={N} causal={causal}: fwd {fwd:.3f} ms, fwd+bwd {both:.3f} ms")
