/**
 * Globs for `branches:` and `paths:`: `*` matches within one path segment, `**` across segments, `?` one
 * character; everything else is literal. `paths: ["web"]` also matches everything below `web/`.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` also matches no folder at all, so `web/**/x` matches `web/x`.
        if (glob[i + 2] === '/') { re += '(?:.*/)?'; i += 2; } else { re += '.*'; i += 1; }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

export function matchesAny(value: string, globs: readonly string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(value));
}

/** True if any changed path lies in one of `globs` (a glob naming a folder covers what is below it). */
export function pathsMatch(changed: readonly string[], globs: readonly string[]): boolean {
  const res = globs.map(globToRegExp);
  const dirs = globs.filter((g) => !/[*?]/.test(g)).map((g) => g.replace(/\/+$/, '') + '/');
  return changed.some((p) => res.some((r) => r.test(p)) || dirs.some((d) => p.startsWith(d)));
}
