# Many torch_recipe.py runs of one model shape at once, for the default-run recipe search (issue 12).
# N models are trained together by one program of batched matmuls, so N recipes cost about one
# run's kernel launches. Each model is what torch_recipe.py trains for its seed: initialised by
# building torch_recipe.GPT after torch.manual_seed(seed), its batches drawn from a CPU generator
# in the state torch_recipe.py's global generator has at that point, its own lr schedule, warmup,
# steps and clip. The models' parameters are the rows of one flat [N, D] tensor (per-parameter
# views for the forward), so AdamW and clip_grad_norm_, written out with torch's formulas per
# model, are a few kernels. A model whose steps are done is frozen (lr 0, no clip) and its
# whole-val loss taken at its own last step, so a group may mix step counts.
#
#   python3 examples/peers/torch_recipe_sweep.py groups.json out.jsonl [--device cuda] [--deadline S]
#     [--eval-every K] [--queue FILE]
# --queue: several processes given the same FILE share out the groups, each taken once, in order.
# groups.json: [{"shape": [L, H, C, T, B], "runs": [{"steps", "lr", "minlr", "warm", "seed", "clip"}, ...]}, ...]
# Appends one JSON line per run: the recipe, val estimates (20 batches) every K (125) steps, the
# whole-val loss at its last step, the group's wall seconds. Groups that would start after
# --deadline seconds are skipped; a group running past it stops (unfinished runs get final null).
import sys, os, json, math, time, fcntl, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_recipe as R

EVAL_EVERY = 125


def stack_models(L, H, C, T, V, seeds):
    """Each seed's torch_recipe.GPT as one row of a flat [N, D] tensor, the layout of its parameters
    (name, shape, offset, decayed), and each model's batch generator."""
    rows, gens = [], []
    for s in seeds:
        torch.manual_seed(s); m = R.GPT(L, H, C, T, V)
        g = torch.Generator(); g.set_state(torch.get_rng_state()); gens.append(g)
        params = list(m.named_parameters())  # the tied head is wte, listed once
        rows.append(torch.cat([p.detach().reshape(-1) for _, p in params]))
    layout, off = [], 0
    for n, p in params:
        layout.append((n, tuple(p.shape), off, p.dim() >= 2)); off += p.numel()  # decay: matrices, as torch_recipe
    return torch.stack(rows), layout, gens


def views(flat, layout):
    N = flat.shape[0]
    return {n: flat[:, off:off + math.prod(shape)].view(N, *shape) for n, shape, off, _ in layout}


def layer_norm(x, w, b):
    return F.layer_norm(x, x.shape[-1:]) * w[:, None, :] + b[:, None, :]


def linear(x, w, b):
    # x [N, M, in], w [N, out, in], b [N, out]
    return torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))


def forward(P, L, H, C, idx, tgt):
    """Per-model mean cross-entropy [N] of torch_recipe.GPT for idx, tgt [N, B, T]."""
    N, B, T = idx.shape
    wte = P['wte.weight']
    x = torch.gather(wte, 1, idx.reshape(N, B * T, 1).expand(N, B * T, C)) + P['wpe.weight'][:, :T].repeat(1, B, 1)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=idx.device), 1)
    hd = C // H
    for l in range(L):
        p = f'blocks.{l}.'
        qkv = linear(layer_norm(x, P[p + 'ln1.weight'], P[p + 'ln1.bias']), P[p + 'qkv.weight'], P[p + 'qkv.bias'])
        q, k, v = [z.reshape(N * B, T, H, hd).transpose(1, 2) for z in qkv.split(C, 2)]
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(hd)).masked_fill(mask, float('-inf')).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(N, B * T, C)
        x = x + linear(y, P[p + 'proj.weight'], P[p + 'proj.bias'])
        h = F.gelu(linear(layer_norm(x, P[p + 'ln2.weight'], P[p + 'ln2.bias']), P[p + 'fc.weight'], P[p + 'fc.bias']), approximate='tanh')
        x = x + linear(h, P[p + 'out.weight'], P[p + 'out.bias'])
    logits = torch.bmm(layer_norm(x, P['lnf.weight'], P['lnf.bias']), wte.transpose(1, 2))
    return F.cross_entropy(logits.reshape(N * B * T, -1), tgt.reshape(-1), reduction='none').view(N, B * T).mean(1)


def run_group(group, device, out_path, t_start, deadline):
    L, H, C, T, B = group['shape']; runs = group['runs']; N = len(runs)
    V, tr, va = R.load_corpus()
    flat, layout, gens = stack_models(L, H, C, T, V, [r['seed'] for r in runs])
    flat = flat.to(device).requires_grad_()
    decay_mask = torch.zeros(1, flat.shape[1], device=device)
    for _, shape, off, decayed in layout:
        if decayed: decay_mask[:, off:off + math.prod(shape)] = 1
    m1 = torch.zeros_like(flat); m2 = torch.zeros_like(flat)
    b1, b2, eps, wd = 0.9, 0.99, 1e-8, 0.1
    scheds = [R.lr_schedule(r['lr'], r['minlr'], r['warm'], r['steps']) for r in runs]
    steps = [r['steps'] for r in runs]; clips = [r.get('clip', 1.0) for r in runs]
    trd, vad = tr.to(device), va.to(device)
    ar = torch.arange(T + 1)
    # the val estimate's batches: torch_recipe's est() draws 20 batches from Generator().manual_seed(1)
    g = torch.Generator().manual_seed(1)
    est_ix = [torch.randint(len(va) - T - 1, (B,), generator=g) for _ in range(20)]
    est_batches = [(vad[(ix[:, None] + ar[None, :T]).to(device)], vad[(ix[:, None] + ar[None, 1:]).to(device)]) for ix in est_ix]
    log = [[] for _ in runs]; final = [None] * N
    Pd = views(flat.detach(), layout)

    @torch.no_grad()
    def est():
        tot = torch.zeros(N, device=device)
        for x, y in est_batches: tot += forward(Pd, L, H, C, x.expand(N, B, T), y.expand(N, B, T))
        return (tot / len(est_batches)).tolist()

    full_batches = [(x.to(device), y.to(device), rows) for x, y, rows in R.full_val_windows(va, T)]

    @torch.no_grad()
    def full():
        tot = torch.zeros(N, device=device); w = 0
        for x, y, rows in full_batches:
            tot += forward(Pd, L, H, C, x.expand(N, rows, T), y.expand(N, rows, T)) * rows; w += rows
        return (tot / w).tolist()

    # every step's batches, learning rates and clip norms go to the device up front, so the loop
    # never copies to the device (a pageable copy would wait for the GPU every step)
    S = max(steps)
    ix_all = torch.stack([torch.stack([torch.randint(len(tr) - T - 1, (B,), generator=gn) for gn in gens]) for _ in range(S)]).to(device)
    live = torch.tensor([[it < s for s in steps] for it in range(S)])
    lr_all = torch.tensor([[scheds[n](it) for n in range(N)] for it in range(S)]).where(live, torch.tensor(0.0)).to(device)
    max_norm = torch.tensor([math.inf if c <= 0 else c for c in clips]).expand(S, N).where(live, torch.tensor(math.inf)).to(device)
    ar = ar.to(device)
    t0 = time.time(); stopped = False
    for it in range(S):
        if time.time() - t_start > deadline: stopped = True; break
        win = ix_all[it][:, :, None] + ar  # [N, B, T + 1]
        loss = forward(views(flat, layout), L, H, C, trd[win[..., :T]], trd[win[..., 1:]])
        flat.grad = None
        loss.sum().backward()
        lr = lr_all[it][:, None]; maxn = max_norm[it]
        with torch.no_grad():
            # clip_grad_norm_: coef = max / (||grad|| + 1e-6) clamped to 1, ||grad|| over all of a model's parameters
            coef = (maxn / (flat.grad.norm(2, 1) + 1e-6)).clamp(max=1.0)[:, None]
            gr = flat.grad * coef
            t = it + 1; bc1 = 1 - b1 ** t; bc2 = 1 - b2 ** t
            # torch.optim.AdamW's update, lr per model, decay on matrices only
            flat.mul_(1 - lr * wd * decay_mask)
            m1.mul_(b1).add_(gr, alpha=1 - b1); m2.mul_(b2).addcmul_(gr, gr, value=1 - b2)
            flat.sub_((lr / bc1) * m1 / (m2.sqrt() / math.sqrt(bc2) + eps))
        if t % EVAL_EVERY == 0:
            e = est()
            for n in range(N):
                if t <= steps[n]: log[n].append([t, round(e[n], 4)])
        if t in steps:
            f = full()
            for n in range(N):
                if steps[n] == t: final[n] = f[n]
    seconds = time.time() - t0
    lines = []
    for n, r in enumerate(runs):
        rec = {'L': L, 'H': H, 'C': C, 'T': T, 'B': B, **r, 'clip': clips[n], 'val': log[n], 'final': final[n],
               'group_seconds': round(seconds, 1), 'group_size': N, 'device': device, 'stopped': stopped}
        lines.append(json.dumps(rec))
    with open(out_path, 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX); f.write('\n'.join(lines) + '\n'); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
    print(f'group L{L} H{H} C{C} T{T} B{B} x{N}: {seconds:.1f}s' + (' (stopped at the deadline)' if stopped else ''), flush=True)


def take(groups, queue_path):
    """The groups in order; with a queue file, each one once among every process sharing it (the
    file's length counts the groups taken), so a few processes work down one list by priority."""
    if queue_path is None: yield from groups; return
    while True:
        with open(queue_path, 'a+') as f:
            fcntl.flock(f, fcntl.LOCK_EX); f.seek(0); n = len(f.read()); f.write('x'); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
        if n >= len(groups): return
        yield groups[n]


if __name__ == '__main__':
    argv = sys.argv[1:]; flags = {}; pos = []; i = 0
    while i < len(argv):
        if argv[i].startswith('--'): flags[argv[i][2:]] = argv[i + 1]; i += 2
        else: pos.append(argv[i]); i += 1
    groups = json.load(open(pos[0])); out = pos[1]
    device = flags.get('device', 'cpu'); deadline = float(flags.get('deadline', 1e9))
    EVAL_EVERY = int(flags.get('eval-every', EVAL_EVERY))
    torch.backends.cuda.matmul.allow_tf32 = False
    t_start = time.time()
    for grp in take(groups, flags.get('queue')):
        if time.time() - t_start > deadline: print('skipped', grp['shape'], flush=True); continue
        run_group(grp, device, out, t_start, deadline)
