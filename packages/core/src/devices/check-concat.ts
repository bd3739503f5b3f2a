/** The checks every device's concat makes of its arguments (Device.concat). */
export function checkConcat(device: string, sizes: readonly number[], outer: number, lens: readonly number[], inner: number): void {
  if (sizes.length === 0 || sizes.length !== lens.length) {
    throw new Error(`${device} concat: ${sizes.length} parts for ${lens.length} lengths; needs at least one part, a length each`);
  }
  for (const [name, v] of [['outer', outer], ['inner', inner]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${device} concat: ${name} must be a non-negative integer, got ${v}`);
  }
  sizes.forEach((n, p) => {
    if (!Number.isInteger(lens[p]) || lens[p] < 0) throw new Error(`${device} concat: length ${p} must be a non-negative integer, got ${lens[p]}`);
    if (n !== outer * lens[p] * inner) throw new Error(`${device} concat: part ${p} has ${n} elements, not [${outer}, ${lens[p]}, ${inner}]`);
  });
}
