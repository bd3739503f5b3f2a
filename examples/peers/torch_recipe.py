# PyTorch mirror of flashgrad's trainer, to search `pnpm train` recipes fast: char GPT on Moby Dick
# (90/10 split), tied head, 0.02 init with residual projections scaled by 1/sqrt(2L), AdamW betas
# (0.9, 0.99) with weight decay 0.1 on matrices, linear warmup then cosine to min lr, grad clip 1;
# val estimated every 250 steps (20 batches), then the whole val split in consecutive windows as
# flashgrad's final eval does. Write the corpus first (flashgrad's exact text):
#   (cd packages/models && node --input-type=module -e "import {loadText} from './dist/data.js';
#     import {writeFileSync} from 'node:fs'; writeFileSync('/tmp/moby.txt', (await loadText()).text)")
#   OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 examples/peers/torch_recipe.py L H C T B steps lr min_lr warmup [seed]
#     [--device cpu|cuda] [--clip X] [--eval-every K]
# --device cuda runs the same fp32 model on the GPU (TF32 off); batches are still drawn from the
# CPU generator, so a seed draws the same initialisation and batches on either device.
# torch_recipe_sweep.py imports this file to train many recipes of one shape at once.
# Debian: apt-get install python3-torch libopenblas0-pthread (without the latter torch falls back
# to the reference BLAS and a 4L/128 step costs ~1.2 CPU-seconds).
import sys, math, time, torch, torch.nn as nn, torch.nn.functional as F


def load_corpus(path='/tmp/moby.txt'):
    """flashgrad's char tokenizer and splitTrainVal: sorted alphabet, first 90% train."""
    text = open(path).read(); chars = sorted(set(text)); stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long); n = int(0.9 * len(data))
    return len(chars), data[:n], data[n:]


class Block(nn.Module):
    def __init__(s, H, C):
        super().__init__(); s.H, s.C = H, C; s.ln1 = nn.LayerNorm(C); s.qkv = nn.Linear(C, 3*C); s.proj = nn.Linear(C, C)
        s.ln2 = nn.LayerNorm(C); s.fc = nn.Linear(C, 4*C); s.out = nn.Linear(4*C, C)
    def forward(s, x):
        b, t, c = x.shape; H = s.H; q, k, v = s.qkv(s.ln1(x)).split(s.C, 2)
        q, k, v = [z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1), float('-inf')).softmax(-1); y = att @ v
        x = x + s.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))


class GPT(nn.Module):
    def __init__(s, L, H, C, T, V):
        super().__init__(); s.V = V; s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(T, C)
        s.blocks = nn.Sequential(*[Block(H, C) for _ in range(L)]); s.lnf = nn.LayerNorm(C); s.head = nn.Linear(C, V, bias=False); s.head.weight = s.wte.weight
        for pn, p in s.named_parameters():
            if p.dim() >= 2: nn.init.normal_(p, 0, 0.02 / (math.sqrt(2 * L) if pn.endswith(('proj.weight', 'out.weight')) else 1))
            elif pn.endswith('bias'): nn.init.zeros_(p)
    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device)); return F.cross_entropy(s.head(s.lnf(s.blocks(x))).view(-1, s.V), tgt.reshape(-1))


def lr_schedule(lr, minlr, warm, steps):
    """flashgrad's optim.cosineWithWarmup."""
    def lr_at(it):
        if it < warm: return lr * (it + 1) / warm
        r = (it - warm) / max(1, steps - warm); return minlr + 0.5 * (1 + math.cos(math.pi * r)) * (lr - minlr)
    return lr_at


def batch(d, T, B, g=None):
    ix = torch.randint(len(d) - T - 1, (B,), generator=g); return torch.stack([d[i:i+T] for i in ix]), torch.stack([d[i+1:i+T+1] for i in ix])


def full_val_windows(d, T, step=64):
    """flashgrad's evaluateSplit: consecutive windows of T tokens, batches of 64 windows."""
    w = (len(d) - 1) // T
    for w0 in range(0, w, step):
        rows = min(step, w - w0)
        yield torch.stack([d[(w0+r)*T:(w0+r)*T+T] for r in range(rows)]), torch.stack([d[(w0+r)*T+1:(w0+r)*T+T+1] for r in range(rows)]), rows


def train_recipe(L, H, C, T, B, steps, lr, minlr, warm, seed=1337, device='cpu', clip=1.0, eval_every=250, corpus='/tmp/moby.txt'):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(seed)
    V, tr, va = load_corpus(corpus)
    m = GPT(L, H, C, T, V).to(device)
    decay = [p for p in m.parameters() if p.dim() >= 2]; nodecay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': nodecay, 'weight_decay': 0}], lr=lr, betas=(0.9, 0.99))
    lr_at = lr_schedule(lr, minlr, warm, steps)
    trd, vad = tr.to(device), va.to(device)
    def on_device(xy): return xy[0].to(device), xy[1].to(device)
    @torch.no_grad()
    def est(iters=20):
        m.eval(); g = torch.Generator().manual_seed(1); l = sum(m(*on_device(batch(va, T, B, g))).item() for _ in range(iters)) / iters; m.train(); return l
    @torch.no_grad()
    def full():
        m.eval(); tot = 0.0; w = 0
        for x, y, rows in full_val_windows(vad, T): tot += m(x, y).item() * rows; w += rows
        m.train(); return tot / w
    t0 = time.time(); log = []
    for it in range(steps):
        for g in opt.param_groups: g['lr'] = lr_at(it)
        ix = torch.randint(len(tr) - T - 1, (B,))
        x = torch.stack([trd[i:i+T] for i in ix]); y = torch.stack([trd[i+1:i+T+1] for i in ix])
        loss = m(x, y); opt.zero_grad(); loss.backward()
        if clip > 0: torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
        if (it + 1) % eval_every == 0: log.append(f'{it+1}:{est():.3f}'); print(log[-1], f'{time.time()-t0:.0f}s', flush=True)
    final = full()
    return {'log': log, 'final': final, 'seconds': time.time() - t0}


if __name__ == '__main__':
    flags = {}; argv = sys.argv[1:]; pos = []; i = 0
    while i < len(argv):
        if argv[i].startswith('--'): flags[argv[i][2:]] = argv[i + 1]; i += 2
        else: pos.append(argv[i]); i += 1
    L, H, C, T, B, steps = (int(v) for v in pos[:6]); lr, minlr = float(pos[6]), float(pos[7]); warm = int(pos[8])
    seed = int(pos[9]) if len(pos) > 9 else 1337
    device = flags.get('device', 'cpu'); clip = float(flags.get('clip', 1.0)); every = int(flags.get('eval-every', 250))
    r = train_recipe(L, H, C, T, B, steps, lr, minlr, warm, seed, device, clip, every)
    print(f'L{L} H{H} C{C} T{T} B{B} steps {steps} lr {lr}->{minlr} warm {warm} seed {seed}'
          + (f' clip {clip}' if clip != 1.0 else '') + (f' {device}' if device != 'cpu' else '')
          + ': ' + ' '.join(r['log']) + f" | final full val {r['final']:.4f} | {r['seconds']:.0f}s", flush=True)
