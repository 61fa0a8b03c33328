import { describe, expect, it } from 'vitest';
import { buildCache, cacheImport, cacheRepository } from '../../src/registry/cache-refs.js';
import { imageRefs } from '../../src/images/tags.js';
import type { ImageConfig } from '../../src/config/types.js';
import { cacheHits } from '../../src/metrics.js';

const image = (tags = ['{branch}', '{sha}']): ImageConfig => ({
  name: 'web',
  context: '.',
  dockerfile: 'Dockerfile',
  target: null,
  args: {},
  secrets: [],
  branches: null,
  paths: null,
  tags,
  platforms: [],
  timeoutSeconds: null,
  cancelSuperseded: true,
});
const SHA = 'a'.repeat(40);
const build = (ref: string, img: ImageConfig, defaultBranch: string | null) => {
  const b = { id: 7, owner: 'alice', ref, commitSha: SHA };
  return { ...b, imageRefs: imageRefs('reg:5000', b, img, defaultBranch) };
};

describe('buildCache', () => {
  it("imports a branch's own tag, then latest; max-mode refs per branch beside the image", () => {
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
    expect(
      cacheHits([
        { name: '[internal] load build definition from Dockerfile', cached: false },
        { name: '[internal] load metadata for localhost:5000/cache/busybox:latest', cached: true },
        { name: '[1/3] FROM localhost:5000/cache/busybox:latest@sha256:abc', cached: true },
        { name: '[build 2/3] COPY app/ /app/', cached: true },
        { name: '[3/3] RUN make', cached: false },
        { name: 'exporting to image', cached: false },
        { name: 'pushing reg:5000/alice/web:main', cached: false },
      ]),
    ).toEqual({ steps: 3, cached: 2 });
    expect(cacheHits([])).toEqual({ steps: 0, cached: 0 });
  });
});

describe('cacheImport', () => {
  const at = '2030-01-01T00:00:00.000Z';
  const W1 = 'worker wsl5y4hq4cjdb9i4dnvm2ghpo';
  const W2 = 'worker q8ngw1uxg6h3bjmd1h0f3x3m9';
  const decide = (identity: string | undefined, last: { builder: string; identity: string | null } | null, prunedAt?: number) =>
    cacheImport({ builder: 'tcp://bk:1234', image: 'web', prunedAt, identity, last: last && { ...last, finishedAt: at } });

  it('imports where another BuildKit answers at the builder since the image was built there (a new worker id)', () => {
    const d = decide(W2, { builder: 'tcp://bk:1234', identity: W1 });
    expect(d.import).toBe(true);
    expect(d.line).toBe(`cache: another BuildKit answers at tcp://bk:1234 since it built web (${W1}, now ${W2}): importing the registry's cache`);
  });

  it("uses the builder's own cache while the same worker answers", () => {
    expect(decide(W1, { builder: 'tcp://bk:1234', identity: W1 })).toEqual({
      import: false,
      line: "cache: tcp://bk:1234 built web last: its own cache is used, the registry's is not imported",
    });
  });

  it('takes an identity not known, then or now, as unchanged', () => {
    expect(decide(undefined, { builder: 'tcp://bk:1234', identity: W1 }).import).toBe(false);
    expect(decide(W1, { builder: 'tcp://bk:1234', identity: null }).import).toBe(false);
    expect(decide(undefined, { builder: 'tcp://bk:1234', identity: null }).import).toBe(false);
  });

  it('imports where the image was built elsewhere or never, whatever the identities, and after a trim or an empty cache', () => {
    expect(decide(W1, { builder: 'local', identity: W1 }).line).toBe("cache: web was last built on local: importing the registry's cache");
    expect(decide(W1, null).line).toBe("cache: tcp://bk:1234 has not built web: importing the registry's cache");
    expect(decide(W1, { builder: 'tcp://bk:1234', identity: W1 }, Date.parse(at) + 1).line).toBe(
      "cache: tcp://bk:1234's cache was trimmed since it built web: importing the registry's cache",
    );
    expect(decide(W1, { builder: 'tcp://bk:1234', identity: W1 }, Date.parse(at) - 1).import).toBe(false);
  });
});
