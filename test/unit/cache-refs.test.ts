import { describe, expect, it } from 'vitest';
import { buildCache, cacheRepository } from '../../src/builds/cache-refs.js';
import { imageRefs } from '../../src/builds/tags.js';
import type { ImageConfig } from '../../src/config/types.js';
import { cacheHits } from '../../src/metrics.js';

const image = (tags = ['{branch}', '{sha}']): ImageConfig => ({
  name: 'web', context: '.', dockerfile: 'Dockerfile', target: null, args: {}, secrets: [], branches: null, paths: null,
  tags, platforms: [], timeoutSeconds: null, cancelSuperseded: true,
});
const SHA = 'a'.repeat(40);
const build = (ref: string, img: ImageConfig, defaultBranch: string | null) => {
  const b = { id: 7, owner: 'alice', ref, commitSha: SHA };
  return { ...b, imageRefs: imageRefs('reg:5000', b, img, defaultBranch) };
};

describe('buildCache', () => {
  it('imports a branch\'s own tag, then latest; max-mode refs per branch beside the image', () => {
    const img = image();
    expect(buildCache(build('refs/heads/feature/x', img, 'main'), img, 'main')).toEqual({
      imageRefs: ['reg:5000/alice/web:feature-x', 'reg:5000/alice/web:latest'],
      cacheRefs: ['reg:5000/alice/web/buildcache:feature-x', 'reg:5000/alice/web/buildcache:main'],
      exportRef: 'reg:5000/alice/web/buildcache:feature-x',
    });
  });

  it('on the default branch, imports its own tag and latest once each', () => {
    const img = image();
    const c = buildCache(build('refs/heads/main', img, 'main'), img, 'main')!;
    expect(c.imageRefs).toEqual(['reg:5000/alice/web:main', 'reg:5000/alice/web:latest']);
    expect(c.cacheRefs).toEqual(['reg:5000/alice/web/buildcache:main']);
  });

  it('never imports a commit tag ({sha}, {short_sha}, {build}): each names one build, not the line of builds', () => {
    const img = image(['{sha}', 'build-{build}', 'v-{short_sha}']);
    expect(buildCache(build('refs/heads/dev', img, 'main'), img, 'main')!.imageRefs).toEqual(['reg:5000/alice/web:latest']);
  });

  it('a tag push imports its moving tag and latest; no refs, no cache', () => {
    const img = image();
    expect(buildCache(build('refs/tags/v1.2', img, 'main'), img, 'main')!.imageRefs).toEqual(['reg:5000/alice/web:v1.2', 'reg:5000/alice/web:latest']);
    expect(buildCache({ id: 1, ref: 'refs/heads/main', commitSha: SHA, imageRefs: [] }, img, 'main')).toBeNull();
  });

  it('puts max-mode caches where no image can be: image names hold no slash', () => {
    expect(cacheRepository('reg:5000/alice/web')).toBe('reg:5000/alice/web/buildcache');
  });
});

describe('cacheHits', () => {
  it('counts Dockerfile instruction steps only, of any stage', () => {
    expect(cacheHits([
      { name: '[internal] load build definition from Dockerfile', cached: false },
      { name: '[internal] load metadata for localhost:5000/cache/busybox:latest', cached: true },
      { name: '[1/3] FROM localhost:5000/cache/busybox:latest@sha256:abc', cached: true },
      { name: '[build 2/3] COPY app/ /app/', cached: true },
      { name: '[3/3] RUN make', cached: false },
      { name: 'exporting to image', cached: false },
      { name: 'pushing reg:5000/alice/web:main', cached: false },
    ])).toEqual({ steps: 3, cached: 2 });
    expect(cacheHits([])).toEqual({ steps: 0, cached: 0 });
  });
});
