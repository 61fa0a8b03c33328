/**
 * .dockerignore semantics against the cases moby/patternmatcher v0.6.0's own tests give (MatchesOrParentMatches),
 * which is what dockerd 26 and buildx 0.13 apply.
 */
import { describe, expect, it } from 'vitest';
import { cleanPath, IgnoreMatcher, parseDockerignore } from '../../src/context/dockerignore.js';

function matcher(...patterns: string[]): IgnoreMatcher {
  const r = IgnoreMatcher.compile(patterns.map((pattern, i) => ({ line: i + 1, pattern })));
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.matcher;
}

const SINGLE: [string, string, boolean][] = [
  ['**', 'file', true],
  ['**', 'dir/file', true],
  ['**/', 'file', true],
  ['**/**', 'dir/file', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/dir2/file', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\*b', 'a*b', true],
];

const MULTI: [string[], string, boolean][] = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  // A directory excludes what is under it; an exception brings one file back; the last match decides.
  [['data'], 'data/big.bin', true],
  [['data', '!data/keep.txt'], 'data/keep.txt', false],
  [['data', '!data/keep.txt'], 'data/other', true],
  [['*.md', '!README.md'], 'README.md', false],
  [['*.md', '!README.md'], 'docs/x.md', false],
  [['*.md'], 'CHANGES.md', true],
  [['!README.md', '*.md'], 'README.md', true],
];

describe('.dockerignore matching (patternmatcher v0.6.0 cases)', () => {
  it.each(SINGLE)('%s against %s: %s', (pattern, path, excluded) => {
    expect(matcher(pattern).matches(path)).toBe(excluded);
  });
  it.each(MULTI)('%j against %s: %s', (patterns, path, excluded) => {
    expect(matcher(...patterns).matches(path)).toBe(excluded);
  });
  it('knows whether an excluded directory may still hold included files', () => {
    expect(matcher('data').hasExceptions).toBe(false);
    expect(matcher('data', '!data/keep.txt').hasExceptions).toBe(true);
  });
});

describe('.dockerignore parsing', () => {
  it('drops comments, blank lines and a BOM, trims, cleans and unanchors, and keeps line numbers', () => {
    expect(parseDockerignore('\uFEFF# comment\n\n  node_modules/  \n/dist\n! ./keep/../keep.txt\r\n  # not a comment\n')).toEqual([
      { line: 3, pattern: 'node_modules' },
      { line: 4, pattern: 'dist' },
      { line: 5, pattern: '!keep.txt' },
      { line: 6, pattern: '# not a comment' },
    ]);
  });
  it('reports every malformed line by its number, and builds no matcher from half a file', () => {
    const r = IgnoreMatcher.compile(parseDockerignore('ok\n!\na[b\ntrailing\\\n'));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toEqual([
      '.dockerignore:2: "!" with no pattern after it',
      expect.stringMatching(/^\.dockerignore:3: "a\[b": not a valid pattern/),
      '.dockerignore:4: "trailing\\\\": ends in a lone "\\" (escape it as "\\\\")',
    ]);
  });
  it('cleans paths as Go does', () => {
    expect([cleanPath(''), cleanPath('a/./b/../c/'), cleanPath('/../a'), cleanPath('../../a'), cleanPath('a//b')]).toEqual([
      '.',
      'a/c',
      '/a',
      '../../a',
      'a/b',
    ]);
  });
});
