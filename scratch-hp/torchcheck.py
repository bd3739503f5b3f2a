import json, struct, math, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
b = json.load(open('scratch-hp/ck/batch.json')); cfg = b['cfg']
raw = open('scratch-hp/ck/model.safetensors', 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; hdr = json.loads(raw[8:8+n]); data = raw[8+n:]
sd = {}
for k, v in hdr.items():
    if k == '__metadata__': continue
    dt = {'F32': np.float32, 'F64': np.float64}[v['dtype']]; s, e = v['data_offsets']
    sd[k] = torch.tensor(np.frombuffer(data[s:e], dtype=dt).reshape(v['shape']).astype(np.float64))
C, H, L, V, T = cfg['nEmbd'], cfg['nHead'], cfg['nLayer'], cfg['vocabSize'], cfg['blockSize']
P = {k: v.clone().requires_grad_(True) for k, v in sd.items() if k != 'lm_head.weight'}
def ln(x, p): return F.layer_norm(x, (C,), P[p + '.weight'], P[p + '.bias'], 1e-5)
def lin(x, p): return F.linear(x, P[p + '.weight'], P[p + '.bias'])
x = torch.tensor(b['x']).view(4, T); y = torch.tensor(b['y']).view(4, T)
h = P['transformer.wte.weight'][x] + P['transformer.wpe.weight'][:T]
for i in range(L):
    pre = f'transformer.h.{i}.'
    q, k, v = lin(ln(h, pre + 'ln_1'), pre + 'attn.c_attn').split(C, 2)
    q, k, v = [z.view(4, T, H, C // H).transpose(1, 2) for z in (q, k, v)]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
    att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float('-inf')).softmax(-1)
    h = h + lin((att @ v).transpose(1, 2).reshape(4, T, C), pre + 'attn.c_proj')
    h = h + lin(F.gelu(lin(ln(h, pre + 'ln_2'), pre + 'mlp.c_fc'), approximate='tanh'), pre + 'mlp.c_proj')
logits = ln(h, 'transformer.ln_f') @ P['transformer.wte.weight'].T
loss = F.cross_entropy(logits.view(-1, V), y.view(-1)); loss.backward()
print('torch loss', loss.item(), 'ours', b['loss'], 'diff', loss.item() - b['loss'])
print('logits diff', max(abs(a - c) for a, c in zip(logits.view(-1)[:10].tolist(), b['logits0'])))
names = {'transformer.wte.weight', 'transformer.wpe.weight'}
for n, g in b['grads'].items():
    tn = n.replace('cAttn', 'c_attn').replace('cProj', 'c_proj').replace('cFc', 'c_fc').replace('lnF', 'ln_f').replace('ln1', 'ln_1').replace('ln2', 'ln_2')
    print(tn, 'grad maxdiff', max(abs(a - c) for a, c in zip(P[tn].grad.view(-1)[:5].tolist(), g)))
