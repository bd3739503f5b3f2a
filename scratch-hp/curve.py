import sys, math, torch, json
sys.argv = sys.argv[:1]
import importlib.util
spec = importlib.util.spec_from_file_location('hp', 'scratch-hp/hp.py'); hp = importlib.util.module_from_spec(spec); spec.loader.exec_module(hp)
L, H, C, T, B, steps = 2, 4, 32, 32, 8, 100
torch.manual_seed(1337); dev = 'cpu'
m = hp.GPT(L, H, C, T)
decay = [p for p in m.parameters() if p.dim() >= 2]; nod = [p for p in m.parameters() if p.dim() < 2]
lr = 6e-3; warm = 30; minlr = lr / 10
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': nod, 'weight_decay': 0}], lr=lr, betas=(0.9, 0.99))
g = torch.Generator().manual_seed(1)
out = []
for it in range(steps):
    lr_ = lr * (it + 1) / warm if it < warm else minlr + 0.5 * (1 + math.cos(math.pi * (it - warm) / (steps - warm))) * (lr - minlr)
    for gr in opt.param_groups: gr['lr'] = lr_
    ix = torch.randint(len(hp.train_data) - T, (B,), generator=g)
    x = torch.stack([hp.train_data[i:i+T] for i in ix]); y = torch.stack([hp.train_data[i+1:i+T+1] for i in ix])
    loss = m(x, y); opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    out.append(loss.item())
print(' '.join(f'{i+1}:{out[i]:.3f}' for i in range(0, steps, 6)))
