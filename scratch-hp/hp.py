"""Hyperparameter search for the tiny preset: a PyTorch replica of flashgrad's GPT and training loop."""
import sys, time, math, json, torch, torch.nn as nn, torch.nn.functional as F
from concurrent.futures import ProcessPoolExecutor

text = open('scratch-hp/moby.txt', encoding='utf-8').read()
chars = sorted(set(text)); stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(len(data) * 0.9); train_data, val_data = data[:n], data[n:]
V = len(chars)

class Block(nn.Module):
    def __init__(s, C, H):
        super().__init__(); s.H = H; s.ln1 = nn.LayerNorm(C); s.qkv = nn.Linear(C, 3*C); s.proj = nn.Linear(C, C)
        s.ln2 = nn.LayerNorm(C); s.fc = nn.Linear(C, 4*C); s.out = nn.Linear(4*C, C)
    def forward(s, x):
        b, t, c = x.shape; q, k, v = s.qkv(s.ln1(x)).split(c, 2)
        q, k, v = [z.view(b, t, s.H, c // s.H).transpose(1, 2) for z in (q, k, v)]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))

class GPT(nn.Module):
    def __init__(s, L, H, C, T):
        super().__init__(); s.wte = nn.Embedding(V, C); s.wpe = nn.Embedding(T, C)
        s.blocks = nn.Sequential(*[Block(C, H) for _ in range(L)]); s.lnf = nn.LayerNorm(C)
        for name, p in s.named_parameters():
            if name.endswith('bias'): nn.init.zeros_(p)
            elif p.dim() == 2: nn.init.normal_(p, 0, 0.02 / math.sqrt(2 * L) if name.endswith(('proj.weight', 'out.weight')) else 0.02)
    def forward(s, idx, tgt):
        x = s.wte(idx) + s.wpe(torch.arange(idx.shape[1], device=idx.device))
        logits = s.lnf(s.blocks(x)) @ s.wte.weight.T
        return F.cross_entropy(logits.view(-1, V), tgt.view(-1))

def full_val(m, T, dev):
    w = (len(val_data) - 1) // T
    x = val_data[:w * T].view(w, T).to(dev); y = val_data[1:w * T + 1].view(w, T).to(dev)
    with torch.no_grad():
        tot = 0.0
        for i in range(0, w, 256): tot += m(x[i:i+256], y[i:i+256]).item() * x[i:i+256].numel()
    return tot / (w * T)

def run(cfg):
    dev = cfg.get('dev', 'cuda'); torch.manual_seed(cfg.get('seed', 1337)); torch.set_num_threads(1)
    L, H, C, T, B, lr, steps = cfg['L'], cfg['H'], cfg['C'], cfg['T'], cfg['B'], cfg['lr'], cfg['steps']
    warm = cfg.get('warmup', 50); minlr = cfg.get('minlr', lr / 10)
    m = GPT(L, H, C, T).to(dev)
    decay = [p for p in m.parameters() if p.dim() >= 2]; nod = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': cfg.get('wd', 0.1)}, {'params': nod, 'weight_decay': 0}], lr=lr, betas=(0.9, cfg.get('beta2', 0.99)))
    g = torch.Generator().manual_seed(cfg.get('seed', 1337))
    def sched(it):
        if it < warm: return lr * (it + 1) / warm
        p = (it - warm) / max(1, steps - warm); return minlr + 0.5 * (1 + math.cos(math.pi * p)) * (lr - minlr)
    out = {}; t0 = time.time()
    for it in range(steps):
        for gr in opt.param_groups: gr['lr'] = sched(it)
        ix = torch.randint(len(train_data) - T, (B,), generator=g)
        x = torch.stack([train_data[i:i+T] for i in ix]).to(dev); y = torch.stack([train_data[i+1:i+T+1] for i in ix]).to(dev)
        loss = m(x, y); opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.get('clip', 1.0)); opt.step()
        if (it + 1) in cfg.get('evals', []): out[it + 1] = round(full_val(m, T, dev), 3)
    out['final'] = full_val(m, T, dev)
    params = sum(p.numel() for p in m.parameters())
    nonemb = params - V * C - T * C
    flops = 6 * (nonemb + V * C) * B * T + 12 * L * T * C * B * T
    return {**cfg, 'curve': {k: v for k, v in out.items() if k != 'final'}, 'val': round(out['final'], 4), 'params': params, 'gflop_step': round(flops / 1e9, 3), 'sec': round(time.time() - t0, 1)}

if __name__ == '__main__':
    cfgs = json.loads(sys.argv[1])
    with ProcessPoolExecutor(int(sys.argv[2]) if len(sys.argv) > 2 else 8) as ex:
        for r in ex.map(run, cfgs): print(json.dumps(r), flush=True)
