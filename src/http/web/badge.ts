import type { Build } from '../../store/schema.js';

/** What a branch's badge says and its colour (shields.io's palette). */
export function badgeState(builds: Build[]): { text: string; color: string } {
  const has = (s: Build['status']) => builds.some((b) => b.status === s);
  if (builds.length === 0) return { text: 'no builds', color: '#9f9f9f' };
  if (has('failed')) return { text: 'failing', color: '#e05d44' };
  if (has('running')) return { text: 'running', color: '#dfb317' };
  if (has('queued')) return { text: 'queued', color: '#dfb317' };
  if (has('canceled')) return { text: 'canceled', color: '#9f9f9f' };
  return { text: 'passing', color: '#4c1' };
}

// Advance widths of Verdana 11px (what shields.io measures with), by character; others count as 7.
const WIDE: Record<string, number> = {
  ' ': 3.9,
  '-': 4.6,
  '.': 3.9,
  '/': 4.6,
  _: 7,
  i: 3.1,
  l: 3.1,
  j: 3.4,
  f: 3.9,
  t: 4.3,
  r: 4.7,
  m: 10.7,
  w: 9,
  s: 5.7,
  c: 5.7,
  a: 6.7,
  e: 6.6,
  g: 6.8,
  k: 6.5,
  n: 7,
  o: 6.7,
  p: 6.8,
  u: 7,
  v: 6.5,
  x: 6.5,
  y: 6.5,
  z: 5.8,
  b: 6.8,
  d: 6.8,
  h: 7,
};
const width = (s: string) => Math.round([...s].reduce((w, ch) => w + (WIDE[ch] ?? 7.4), 0));

/** A flat shields.io-style badge: grey `label` on the left, `text` on `color` on the right. */
export function badgeSvg(label: string, text: string, color: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const lw = width(label) + 10;
  const rw = width(text) + 10;
  const w = lw + rw;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="20" role="img" aria-label="${esc(label)}: ${esc(text)}">` +
    `<title>${esc(label)}: ${esc(text)}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${w}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${rw}" height="20" fill="${color}"/><rect width="${w}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${lw / 2}" y="15" fill="#010101" fill-opacity=".3">${esc(label)}</text><text x="${lw / 2}" y="14">${esc(label)}</text>` +
    `<text x="${lw + rw / 2}" y="15" fill="#010101" fill-opacity=".3">${esc(text)}</text><text x="${lw + rw / 2}" y="14">${esc(text)}</text></g></svg>`
  );
}
