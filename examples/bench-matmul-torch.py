# PyTorch peer of bench-matmul-webgpu.js: torch.matmul in fp32 with TF32 off (cuBLAS SGEMM), the
# same shapes (examples/matmul-shapes.json) and layouts (a transposed operand is a .mT view, which
# cuBLAS reads without a copy), bias added the way nn.Linear does (torch.addmm where unbatched).
# Median over RUNS batches of CALLS calls, timed with CUDA events. Prints a table and writes
# bench-results/matmul-torch.json (and $OUT/matmul-torch.json when OUT is set).
#
#   python3 examples/bench-matmul-torch.py
import json, os, statistics, torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
here = os.path.dirname(os.path.abspath(__file__))
shapes = json.load(open(os.path.join(here, 'matmul-shapes.json')))['shapes']
RUNS, CALLS = int(os.environ.get('BENCH_RUNS', 7)), int(os.environ.get('BENCH_CALLS', 10))
dev = torch.device('cuda')
rows = []
print(f'device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, tf32 off')
for s in shapes:
    M, K, N, batch = s['M'], s['K'], s['N'], s['batch']
    a = torch.rand(*batch, *( [K, M] if s['transA'] else [M, K]), device=dev) - 0.5
    b = torch.rand(*batch, *( [N, K] if s['transB'] else [K, N]), device=dev) - 0.5
    A = a.mT if s['transA'] else a
    B = b.mT if s['transB'] else b
    bias = torch.rand(N, device=dev) if s['bias'] else None
    def call():
        if bias is None:
            return torch.matmul(A, B)
        return torch.addmm(bias, A, B) if not batch else torch.matmul(A, B) + bias
    call(); torch.cuda.synchronize()
    times = []
    for _ in range(RUNS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(CALLS):
            call()
        end.record(); torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / CALLS)
    ms = statistics.median(times)
    count = 1
    for d in batch:
        count *= d
    tflops = 2 * count * M * N * K / (ms / 1e3) / 1e12
    rows.append({'name': s['name'], 'ms': round(ms, 4), 'min': round(min(times), 4), 'max': round(max(times), 4), 'tflops': round(tflops, 2)})
    print(f"{s['name']:<28} torch fp32     {ms:9.3f} ms [{min(times):.3f}–{max(times):.3f}] {tflops:7.2f} TFLOP/s")
out = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'runs': RUNS, 'calls': CALLS, 'rows': rows}
os.makedirs('bench-results', exist_ok=True)
json.dump(out, open('bench-results/matmul-torch.json', 'w'), indent=2)
if os.environ.get('OUT'):
    json.dump(out, open(os.path.join(os.environ['OUT'], 'matmul-torch.json'), 'w'), indent=2)
