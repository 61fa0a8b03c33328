import picomatch from 'picomatch';
import { describe, expect, it, vi } from 'vitest';
import { matchesAny, matchGlob, pathsHit, pathsMatch } from '../../src/config/glob.js';

/** The globs before picomatch (`{` and `[` plain characters): what every pattern without them must still do. */
function before(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        if (glob[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

const words = (alphabet: string, max: number): string[] => {
  let cur = [''];
  const out: string[] = [];
  for (let n = 1; n <= max; n++) {
    cur = cur.flatMap((c) => [...alphabet].map((a) => c + a));
    out.push(...cur);
  }
  return out;
};

describe('globs: *, ** and ? as before', () => {
  it('matches every short pattern without braces or classes exactly as before', () => {
    // Real names and paths: no leading, trailing or doubled `/`, no `.` or `..` segment.
    const inputs = words('ab/.(', 4).filter((s) => !/^\/|\/$|\/\//.test(s) && !s.split('/').some((x) => x === '.' || x === '..'));
    const differ: string[] = [];
    for (const p of words('a/*?.(!+', 3).concat(['**', 'a**', '**a', 'a**b', 'a/**', '**/a', 'a**/b', 'a/**b', 'a***', '***/a', 'a/**/**/b', 'a**/**b'])) {
      const re = before(p);
      for (const s of inputs) if (re.test(s) !== matchesAny(s, [p])) differ.push(`${p} ${s}`);
    }
    expect(differ).toEqual([]);
  });

  it('keeps the two readings picomatch alone would change', () => {
    expect(matchesAny('release/1/x', ['release**'])).toBe(true); // `**` inside a segment still crosses `/`
    expect(matchesAny('a/x/yb', ['a/**b'])).toBe(true);
    expect(matchesAny('release', ['release/**'])).toBe(false); // `x/**` is below x, not x itself
    expect(matchesAny('release/1', ['release/**'])).toBe(true);
    expect(matchesAny('.github', ['*'])).toBe(true); // dotfiles are names like any other
    expect(matchesAny('(x)', ['(x)'])).toBe(true); // parentheses, `!`, `+`, `@` stay plain characters
    expect(matchesAny('!x', ['!x'])).toBe(true);
    expect(matchesAny('y', ['!x'])).toBe(false);
  });
});

describe('globs: braces and classes', () => {
  it('reads braces as alternatives and ranges, classes as one character of a set', () => {
    expect(matchesAny('release/2', ['{main,release/*}'])).toBe(true);
    expect(matchesAny('main', ['{main,release/*}'])).toBe(true);
    expect(matchesAny('dev', ['{main,release/*}'])).toBe(false);
    expect(matchesAny('v1.7', ['v[0-9].[0-9]'])).toBe(true);
    expect(matchesAny('vx.7', ['v[0-9].[0-9]'])).toBe(false);
    expect(matchesAny('v3', ['v{1..4}'])).toBe(true);
    expect(matchesAny('v10', ['v{8..11}'])).toBe(true);
    expect(matchesAny('v7', ['v{8..11}'])).toBe(false);
    expect(matchesAny('r05', ['r{01..10}'])).toBe(true);
    expect(matchesAny('b', ['[!a]'])).toBe(true);
    expect(matchesAny('a', ['[!a]'])).toBe(false);
    expect(matchesAny('a/b', ['a[!x]b', 'a[^x]b'])).toBe(false); // a class never matches `/`
    expect(matchesAny('x/a/b', ['{x,y}/**'])).toBe(true);
  });

  it('covers a folder named by braces, and matches changed paths with classes', () => {
    expect(pathsMatch(['api/main.go'], ['{web,api}'])).toBe(true);
    expect(pathsMatch(['docs/b2.md'], ['docs/[a-c][0-9].md'])).toBe(true);
    expect(pathsMatch(['docs/d2.md'], ['docs/[a-c][0-9].md'])).toBe(false);
    expect(pathsMatch(['src/a.ts'], ['**/*.{ts,tsx}'])).toBe(true);
  });

  it('keeps `{a}`, an unclosed `{` or `[` and a lone `}` or `]` plain, as they were', () => {
    for (const p of ['{a}', 'x{', 'x[', 'x}', 'x]', '[]', '{}']) expect(matchGlob(p, [p])).toEqual({ glob: p, literalOnly: false });
  });
});

describe('globs: a config that relied on a plain { or [', () => {
  it('still matches what it matched, marked literal-only so the push can warn', () => {
    expect(matchGlob('feat-{a,b}', ['feat-{a,b}'])).toEqual({ glob: 'feat-{a,b}', literalOnly: true });
    expect(matchGlob('feat-a', ['feat-{a,b}'])).toEqual({ glob: 'feat-{a,b}', literalOnly: false });
    expect(matchGlob('[0-9]x', ['[0-9]x'])).toEqual({ glob: '[0-9]x', literalOnly: true });
    expect(matchGlob('[z-a]', ['[z-a]'])).toEqual({ glob: '[z-a]', literalOnly: true }); // no valid class: plain only
    expect(matchGlob('x', ['[0-9]x'])).toBeNull();
    expect(pathsHit(['a/{b,c}/d'], ['a/{b,c}'])).toEqual({ glob: 'a/{b,c}', literalOnly: true, path: 'a/{b,c}/d' });
  });

  it('prefers a real match to a literal-only one, in any glob and any path', () => {
    expect(matchGlob('x{1,2}', ['x{1,2}', 'x*'])).toEqual({ glob: 'x*', literalOnly: false });
    expect(pathsHit(['a/[0-9]', 'a/5'], ['a/[0-9]'])).toEqual({ glob: 'a/[0-9]', literalOnly: false, path: 'a/5' });
  });

  it('writes [{] or [[] for the plain character', () => {
    expect(matchGlob('feat-{a,b}', ['feat-[{]a,b}'])).toEqual({ glob: 'feat-[{]a,b}', literalOnly: false });
    expect(matchGlob('[x]', ['[[]x]'])).toEqual({ glob: '[[]x]', literalOnly: false });
  });
});

describe('globs: compiled once', () => {
  it('compiles a pattern on its first use only', () => {
    const spy = vi.spyOn(picomatch, 'makeRe');
    try {
      for (let i = 0; i < 5; i++) matchesAny(`hotfix/${i}`, ['hotfix/{1..3}', 'only-here-*']);
      expect(spy).toHaveBeenCalledTimes(3); // the braces' pattern and its plain reading, and the other pattern
    } finally {
      spy.mockRestore();
    }
  });
});
