// The micrograd example in flashgrad: a tiny expression and its gradients, from plain Node.
// Run: pnpm build && node examples/scalar-autograd.js
import { tensor } from '@flashgrad/core';

const a = tensor(-4, { requiresGrad: true });
const b = tensor(2, { requiresGrad: true });
let c = a.add(b);
let d = a.mul(b).add(b.pow(3));
c = c.add(c.add(1));
c = c.add(c.add(1).add(a.neg()));
d = d.add(d.mul(2).add(b.add(a).relu()));
d = d.add(d.mul(3).add(b.sub(a).relu()));
const e = c.sub(d);
const f = e.pow(2);
let g = f.div(2);
g = g.add(f.pow(-1).mul(10));
g.backward();

// micrograd prints 24.7041, 138.8338, 645.5773 for the same expression
console.log(`g = ${(await g.item()).toFixed(4)}`);
console.log(`dg/da = ${(await a.grad.item()).toFixed(4)}`);
console.log(`dg/db = ${(await b.grad.item()).toFixed(4)}`);
