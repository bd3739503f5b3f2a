/**
 * A loss-curve chart as a self-contained SVG string: no dependencies, opens in any browser and
 * renders inline on GitHub, so a training run can leave a picture next to its checkpoint.
 */

export type Point = [step: number, loss: number];

export interface LossCurves {
  train: Point[];
  val: Point[];
}

export interface PlotOptions {
  title?: string;
  width?: number;
  height?: number;
  xLabel?: string;
  yLabel?: string;
}

const COLORS = { train: '#1f77b4', val: '#d62728' };
const MARGIN = { top: 40, right: 24, bottom: 52, left: 64 };

/** Step of roughly `count` ticks over `span`, rounded to 1, 2 or 5 × 10^k so labels stay short. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function ticks(lo: number, hi: number, count: number): { lo: number; hi: number; values: number[]; step: number } {
  const step = niceStep(hi - lo, count);
  const a = Math.floor(lo / step) * step;
  const b = Math.ceil(hi / step) * step;
  const values: number[] = [];
  for (let i = 0; a + i * step <= b + step * 1e-9; i++) values.push(a + i * step);
  return { lo: a, hi: b, values, step };
}

function label(v: number, step: number): string {
  if (Math.abs(v) >= 10_000 && step >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Widens a degenerate range (one point, constant loss) so the scale has something to span. */
function range(values: number[]): [number, number] {
  // A loop, not Math.min(...values): spreading a long run's history overflows the call stack.
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === hi) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

export function lossCurveSvg(curves: LossCurves, options: PlotOptions = {}): string {
  const { title = 'Loss', width = 720, height = 420, xLabel = 'step', yLabel = 'loss' } = options;
  // A diverged run logs NaN/Infinity; drop those points rather than the whole chart.
  const clean = (ps: Point[]) => ps.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((p, q) => p[0] - q[0]);
  const series = [
    { name: 'train', points: clean(curves.train), color: COLORS.train },
    { name: 'val', points: clean(curves.val), color: COLORS.val },
  ].filter((s) => s.points.length > 0);

  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
      ` font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
  ];
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    out.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text>`, '</svg>');
    return out.join('\n');
  }

  const [x0, x1] = range(all.map((p) => p[0]));
  const [y0, y1] = range(all.map((p) => p[1]));
  const xt = ticks(x0, x1, 8);
  const yt = ticks(y0, y1, 6);
  const sx = (x: number) => MARGIN.left + ((x - xt.lo) / (xt.hi - xt.lo)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - yt.lo) / (yt.hi - yt.lo)) * plotH;
  const f = (v: number) => v.toFixed(1); // sub-pixel precision is invisible and bloats the file

  out.push('<g stroke="#e5e5e5" stroke-width="1">');
  for (const v of yt.values) out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${f(sy(v))}" y2="${f(sy(v))}"/>`);
  for (const v of xt.values) out.push(`<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}"/>`);
  out.push('</g>');

  const bottom = MARGIN.top + plotH;
  out.push(
    `<g stroke="#333" stroke-width="1"><line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${bottom}" y2="${bottom}"/>` +
      `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}"/></g>`,
  );
  out.push('<g fill="#333">');
  for (const v of xt.values) {
    out.push(`<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${bottom}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${f(sx(v))}" y="${bottom + 18}" text-anchor="middle">${label(v, xt.step)}</text>`);
  }
  for (const v of yt.values) {
    out.push(`<line x1="${MARGIN.left - 5}" x2="${MARGIN.left}" y1="${f(sy(v))}" y2="${f(sy(v))}" stroke="#333"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${f(sy(v) + 4)}" text-anchor="end">${label(v, yt.step)}</text>`);
  }
  out.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    '</g>',
  );

  for (const s of series) {
    const pts = s.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
    out.push(
      `<polyline class="${s.name}" fill="none" stroke="${s.color}" stroke-width="1.75" stroke-linejoin="round" points="${pts}"/>`,
    );
    // Validation is evaluated rarely: mark its points so a two-point line does not look like data.
    if (s.name === 'val' && s.points.length <= 60) {
      for (const [x, y] of s.points) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2.5" fill="${s.color}"/>`);
    }
  }

  const lx = MARGIN.left + plotW - 90;
  const legendH = series.length * 18 + 8;
  out.push(`<g><rect x="${lx - 8}" y="${MARGIN.top + 6}" width="90" height="${legendH}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`);
  series.forEach((s, i) => {
    const y = MARGIN.top + 22 + i * 18;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 30}" y="${y}">${s.name}</text>`);
  });
  out.push('</g>', '</svg>');
  return out.join('\n');
}
