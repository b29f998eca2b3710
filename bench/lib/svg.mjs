// Latency-by-percentile plot as a small standalone SVG: x = percentile on a "nines" scale
// (-log10(1 - p), so 90%, 99%, 99.9%… are evenly spaced), y = latency in ms on a log scale,
// one line per peer. No dependencies.

const COLORS = {
  'upstream-direct': '#9e9e9e',
  'nginx-proxy': '#2e7d32',
  haproxy: '#1565c0',
  'fastify-jwt-cache': '#ef6c00',
  'fastify-jwt': '#c62828',
  jwtgate: '#6a1b9a',
};
const EXTRA = ['#00838f', '#ad1457', '#4e342e', '#283593', '#558b2f'];

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const nines = (p) => (p >= 100 ? Infinity : -Math.log10(1 - p / 100));

/**
 * series: [{ name, label, curve: [[percentile, ms], …], p99 }]; returns the SVG text.
 */
export function percentilePlot(series, { title = 'Latency by percentile', subtitle = '' } = {}) {
  const W = 760;
  const H = 440;
  const m = { l: 64, r: 210, t: 56, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const pts = series.flatMap((s) => s.curve.filter(([p]) => p < 100));
  const maxX = Math.max(2, Math.ceil(Math.max(...series.map((s) => Math.max(...s.curve.filter(([p]) => p < 100).map(([p]) => nines(p)))))));
  const values = series.flatMap((s) => s.curve.map(([, v]) => v)).filter((v) => v > 0);
  let lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.001, Math.min(...values, 1)))));
  let hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, lo * 10))));
  if (!pts.length) {
    lo = 0.1;
    hi = 100;
  }
  const x = (n) => m.l + (Math.min(n, maxX) / maxX) * pw;
  const y = (v) => m.t + ph - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${m.l}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="${m.l}" y="42" fill="#555">${esc(subtitle)}</text>`);
  // grid: x at each nine, y at each decade (with 2 and 5)
  for (let n = 0; n <= maxX; n++) {
    const label = n === 0 ? '0%' : `${(100 * (1 - Math.pow(10, -n))).toFixed(Math.max(0, n - 2))}%`;
    out.push(`<line x1="${x(n)}" y1="${m.t}" x2="${x(n)}" y2="${m.t + ph}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${x(n)}" y="${m.t + ph + 18}" text-anchor="middle">${label}</text>`);
  }
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const k of [1, 2, 5]) {
      const v = d * k;
      if (v > hi * 1.0001) break;
      out.push(`<line x1="${m.l}" y1="${y(v)}" x2="${m.l + pw}" y2="${y(v)}" stroke="${k === 1 ? '#d0d0d0' : '#f0f0f0'}"/>`);
      if (k === 1 || ph > 300) out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" fill="${k === 1 ? '#000' : '#888'}">${+v.toPrecision(3)}</text>`);
    }
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">percentile</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`);
  let extra = 0;
  series.forEach((s, i) => {
    const color = COLORS[s.name] ?? EXTRA[extra++ % EXTRA.length];
    const c = s.curve.filter(([p]) => p < 100);
    const d = c.map(([p, v], j) => `${j ? 'L' : 'M'}${x(nines(p)).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const max = s.curve.find(([p]) => p >= 100);
    if (max) out.push(`<circle cx="${x(maxX)}" cy="${y(max[1])}" r="3" fill="${color}"><title>${esc(s.label)} max ${max[1]} ms</title></circle>`);
    const ly = m.t + 8 + i * 34;
    out.push(`<line x1="${m.l + pw + 14}" y1="${ly}" x2="${m.l + pw + 36}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${m.l + pw + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
    if (s.p99 !== undefined) out.push(`<text x="${m.l + pw + 42}" y="${ly + 18}" fill="#555" font-size="11">p99 ${s.p99} ms</text>`);
  });
  out.push(`<text x="${m.l + pw + 14}" y="${m.t + ph}" fill="#777" font-size="10">dots: max</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
