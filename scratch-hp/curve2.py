import sys, math, torch, json
argv = sys.argv[1:]; sys.argv = sys.argv[:1]
import importlib.util
spec = importlib.util.spec_from_file_location('hp', 'scratch-hp/hp.py'); hp = importlib.util.module_from_spec(spec); spec.loader.exec_module(hp)
L, H, C, T, B, steps = 2, 4, 64, 64, 16, 600
for seed in [1337, 1, 2]:
    torch.manual_seed(seed); dev = 'cuda'
    m = hp.GPT(L, H, C, T).to(dev)
    decay = [p for p in m.parameters() if p.dim() >= 2]; nod = [p for p in m.parameters() if p.dim() < 2]
    lr = 6e-3; warm = 30; minlr = lr / 10
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': nod, 'weight_decay': 0}], lr=lr, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(seed)
    out = []
    for it in range(steps):
        lr_ = lr * (it + 1) / warm if it < warm else minlr + 0.5 * (1 + math.cos(math.pi * (it - warm) / (steps - warm))) * (lr - minlr)
        for gr in opt.param_groups: gr['lr'] = lr_
        ix = torch.randint(len(hp.train_data) - T, (B,), generator=g)
        x = torch.stack([hp.train_data[i:i+T] for i in ix]).to(dev); y = torch.stack([hp.train_data[i+1:i+T+1] for i in ix]).to(dev)
        loss = m(x, y); opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        if (it + 1) % 100 == 0: out.append(f'{it+1}: val {hp.full_val(m, T, dev):.3f}')
    print(seed, ' | '.join(out), flush=True)
