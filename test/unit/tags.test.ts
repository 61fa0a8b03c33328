import { describe, expect, it } from 'vitest';
import { matchesAny, pathsMatch } from '../../src/config/glob.js';
import { imageLabels, refInfo, renderTags, toImageTag } from '../../src/images/tags.js';

const sha = 'a'.repeat(8) + 'b'.repeat(32);

describe('toImageTag', () => {
  it.each([
    ['main', 'main'],
    ['feature/Foo_Bar', 'feature-Foo_Bar'],
    ['a//b  c', 'a-b-c'],
    ['.hidden', 'hidden'],
    ['-x', 'x'],
    ['$(rm -rf /);`x`', 'rm--rf-x-'],
    ['ünïcode', 'n-code'],
    ['x'.repeat(200), 'x'.repeat(128)],
  ])('%s -> %s', (name, tag) => expect(toImageTag(name)).toBe(tag));
});

describe('renderTags', () => {
  const branch = refInfo('refs/heads/feature/Foo_Bar')!;
  it('renders the default templates for a branch, adding latest only on the default branch', () => {
    expect(renderTags(['{branch}', '{sha}'], { ref: branch, sha, buildId: 7, isDefaultBranch: false })).toEqual(['feature-Foo_Bar', sha]);
    expect(renderTags(['{branch}', '{sha}'], { ref: refInfo('refs/heads/main')!, sha, buildId: 7, isDefaultBranch: true })).toEqual(['main', sha, 'latest']);
  });
  it('tags a tag push with the tag name and never adds latest to it', () => {
    expect(renderTags(['{branch}', '{sha}'], { ref: refInfo('refs/tags/v1.0.0')!, sha, buildId: 1, isDefaultBranch: true })).toEqual(['v1.0.0', sha]);
  });
  it('leaves out templates whose placeholder is empty and renders the rest', () => {
    expect(renderTags(['{tag}', 'b{build}-{short_sha}', '{branch}'], { ref: branch, sha, buildId: 42, isDefaultBranch: false })).toEqual([
      `b42-${sha.slice(0, 12)}`,
      'feature-Foo_Bar',
    ]);
  });
  it('only branches and tags are refs that build', () => {
    expect(refInfo('refs/notes/builds')).toBeNull();
    expect(refInfo('refs/tags/v1')).toEqual({ ref: 'refs/tags/v1', type: 'tag', name: 'v1' });
  });
  it('labels carry revision, source, created, ref name and build id', () => {
    expect(imageLabels({ sha, sourceUrl: 'http://x/git/a/b.git', refName: 'main', buildId: 3, created: new Date(0) })).toEqual({
      'org.opencontainers.image.revision': sha,
      'org.opencontainers.image.source': 'http://x/git/a/b.git',
      'org.opencontainers.image.created': '1970-01-01T00:00:00.000Z',
      'org.opencontainers.image.ref.name': 'main',
      'dev.codehub.build.id': '3',
    });
  });
});

describe('globs', () => {
  it('matches branches with * inside one segment', () => {
    expect(matchesAny('release/1.2', ['main', 'release/*'])).toBe(true);
    expect(matchesAny('release/1/hotfix', ['release/*'])).toBe(false);
    expect(matchesAny('release/1/hotfix', ['release/**'])).toBe(true);
    expect(matchesAny('feature', ['main'])).toBe(false);
  });
  it('matches changed paths, a plain folder covering what is below it', () => {
    expect(pathsMatch(['web/src/a.ts'], ['web/**'])).toBe(true);
    expect(pathsMatch(['web/src/a.ts'], ['web'])).toBe(true);
    expect(pathsMatch(['api/main.go'], ['web/**', '*.md'])).toBe(false);
    expect(pathsMatch(['README.md'], ['*.md'])).toBe(true);
    expect(pathsMatch(['web/x'], ['web/**/x'])).toBe(true);
  });
});
