# PyTorch mirror of flashgrad's trainer, to search `pnpm train` recipes fast: char GPT on Moby Dick
# (90/10 split), tied head, 0.02 init with residual projections scaled by 1/sqrt(2L), AdamW betas
# (0.9, 0.99) with weight decay 0.1 on matrices, linear warmup then cosine to min lr, grad clip 1;
# val estimated every 250 steps (20 batches), then the whole val split in consecutive windows as
# flashgrad's final eval does. Write the corpus first (flashgrad's exact text):
#   (cd packages/models && node --input-type=module -e "import {loadText} from './dist/data.js';
#     import {writeFileSync} from 'node:fs'; writeFileSync('/tmp/moby.txt', (await loadText()).text)")
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 examples/peers/torch_recipe.py L H C T B steps lr min_lr warmup [seed]
# Debian: apt-get install python3-torch libopenblas0-pthread (without the latter torch falls back
# to the reference BLAS and a 4L/128 step costs ~1.2 CPU-seconds).
import sys, math, time, torch, torch.nn as nn, torch.nn.functional as F
L, H, C, T, B, steps, lr, minlr, warm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
seed = int(sys.argv[10]) if len(sys.argv) > 10 else 1337
torch.manual_seed(seed)
text = open('/tmp/moby.txt').read(); chars = sorted(set(text)); V = len(chars); stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long); n = int(0.9 * len(data)); tr, va = data[:n], data[n:]
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1 = nn.LayerNorm(C); s.qkv = nn.Linear(C, 3*C); s.proj = nn.Linear(C, C)
        s.ln2 = nn.LayerNorm(C); s.fc = nn.Linear(C, 4*C); s.out = nn.Linear(4*C, C)
    def forward(s, x):
        b, t, c = x.shape; q, k, v = s.qkv(s.ln1(x)).split(C, 2)
        q, k, v = [z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float('-inf')).softmax(-1); y = att @ v
        x = x + s.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))
class GPT(nn.Module):
    def __init__(s):
        super().__init__(); s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(T, C)
        s.blocks = nn.Sequential(*[Block() for _ in range(L)]); s.lnf = nn.LayerNorm(C); s.head = nn.Linear(C, V, bias=False); s.head.weight = s.wte.weight
        for pn, p in s.named_parameters():
            if p.dim() >= 2: nn.init.normal_(p, 0, 0.02 / (math.sqrt(2 * L) if pn.endswith(('proj.weight', 'out.weight')) else 1))
            elif pn.endswith('bias'): nn.init.zeros_(p)
    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1])); return F.cross_entropy(s.head(s.lnf(s.blocks(x))).view(-1, V), tgt.reshape(-1))
m = GPT()
decay = [p for p in m.parameters() if p.dim() >= 2]; nodecay = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': nodecay, 'weight_decay': 0}], lr=lr, betas=(0.9, 0.99))
def lr_at(it):
    if it < warm: return lr * (it + 1) / warm
    r = (it - warm) / max(1, steps - warm); return minlr + 0.5 * (1 + math.cos(math.pi * r)) * (lr - minlr)
def batch(d, g=None):
    ix = torch.randint(len(d) - T - 1, (B,), generator=g); return torch.stack([d[i:i+T] for i in ix]), torch.stack([d[i+1:i+T+1] for i in ix])
@torch.no_grad()
def est(d, iters=20):
    m.eval(); g = torch.Generator().manual_seed(1); l = sum(m(*batch(d, g)).item() for _ in range(iters)) / iters; m.train(); return l
@torch.no_grad()
def full(d):
    m.eval(); w = (len(d) - 1) // T; tot = 0.0
    for w0 in range(0, w, 64):
        rows = min(64, w - w0); x = torch.stack([d[(w0+r)*T:(w0+r)*T+T] for r in range(rows)]); y = torch.stack([d[(w0+r)*T+1:(w0+r)*T+T+1] for r in range(rows)])
        tot += m(x, y).item() * rows
    m.train(); return tot / w
t0 = time.time(); log = []
for it in range(steps):
    for g in opt.param_groups: g['lr'] = lr_at(it)
    loss = m(*batch(tr)); opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if (it + 1) % 250 == 0: log.append(f'{it+1}:{est(va):.3f}'); print(log[-1], f'{time.time()-t0:.0f}s', flush=True)
print(f'L{L} H{H} C{C} T{T} B{B} steps {steps} lr {lr}->{minlr} warm {warm} seed {seed}: ' + ' '.join(log) + f' | final full val {full(va):.4f} | {time.time()-t0:.0f}s', flush=True)
