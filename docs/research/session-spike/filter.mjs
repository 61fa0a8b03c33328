// Spike-grade stand-in for fsutil.NewFilterFS: literal patterns only (no globs, no "!" negation),
// a pattern matches the path itself and everything under it; parent dirs of an included path are kept.
const GLOB = /[*?[\]\\!]/;
const matches = (p, pats) => pats.some((x) => { x = x.replace(/^\.?\/+/, '').replace(/\/+$/, ''); return x === '' || x === '.' || p === x || p.startsWith(`${x}/`); });

export function filterEntries(entries, { include, exclude, follow }) {
  const inc = [...include, ...follow];
  for (const p of [...inc, ...exclude]) if (GLOB.test(p)) throw new Error(`spike filter does not support pattern ${JSON.stringify(p)}`);
  let keep = entries.map((e) => !matches(e.stat.path, exclude));
  if (inc.length) {
    const set = new Set();
    entries.forEach((e, i) => {
      if (!keep[i] || !matches(e.stat.path, inc)) return;
      set.add(e.stat.path);
      const parts = e.stat.path.split('/');
      for (let j = 1; j < parts.length; j++) set.add(parts.slice(0, j).join('/'));
    });
    keep = entries.map((e) => set.has(e.stat.path));
  }
  return entries.filter((_, i) => keep[i]);
}
