import { beforeEach, describe, expect, it } from 'vitest';
import { memoryApp } from '../helpers/memory-app.js';

// A multi-platform image's platforms (issue 29) on the pages and in the API, through the app over an in-memory
// database: the build page and the commit page list each platform and its manifest's short digest, the images
// page each tag's platforms while the tag names the index its build pushed.

const INDEX = `sha256:${'1'.repeat(64)}`;
const AMD = `sha256:0123456789ab${'c'.repeat(52)}`;
const ARM = `sha256:fedcba987654${'d'.repeat(52)}`;
const sha = (i: number) => i.toString(16).padStart(40, '0');

describe("a multi-platform image's platforms", () => {
  let m: ReturnType<typeof memoryApp>;
  let alice: string;
  const get = async (path: string) => {
    const res = await m.app.request(path, { headers: { cookie: `codehub_token=${alice}` } });
    expect(res.status).toBe(200);
    return res.text();
  };
  const built = (platforms: { platform: string; digest: string }[] | null, i = 1) => {
    const [b] = m.addBuilds('alice', 'shop', [sha(i)], 'queued');
    m.store.queue.claimNext(() => 'local');
    m.store.builds.setPlatforms(b!.id, platforms);
    m.store.queue.finish(b!.id, { status: 'succeeded', digest: INDEX });
    return b!.id;
  };

  beforeEach(() => {
    m = memoryApp();
    alice = m.addUser('alice');
  });

  it('the build page lists each platform after the digest, its digest short with the whole on hover', async () => {
    const id = built([
      { platform: 'linux/amd64', digest: AMD },
      { platform: 'linux/arm64', digest: ARM },
    ]);
    const body = await get(`/builds/${id}`);
    const list =
      '<dt>Platforms</dt><dd><ul class="refs platforms">' +
      `<li>linux/amd64 <span class="mono" title="${AMD}">sha256:0123456789ab…</span></li>` +
      `<li>linux/arm64 <span class="mono" title="${ARM}">sha256:fedcba987654…</span></li>` +
      '</ul></dd>';
    expect(body).toContain(`<dt>Digest</dt><dd class="mono">${INDEX}</dd>${list}`);
    // The commit page's card of the build says the same.
    expect(await get(`/repos/alice/shop/commits/${sha(1)}`)).toContain(`<dd class="mono">${INDEX}</dd>${list}`);
  });

  it('says nothing of platforms for an image of one platform', async () => {
    const id = built(null);
    const body = await get(`/builds/${id}`);
    expect(body).toContain(`<dt>Digest</dt><dd class="mono">${INDEX}</dd>`);
    expect(body).not.toContain('Platforms');
    expect(JSON.parse(await get(`/api/builds/${id}`)).platforms).toEqual([]);
  });

  it('shows a platform as text, never markup, and the API gives the whole digests', async () => {
    const id = built([{ platform: 'linux/<b>arm64</b>', digest: ARM }]);
    const body = await get(`/builds/${id}`);
    expect(body).toContain('<li>linux/&lt;b&gt;arm64&lt;/b&gt; <span');
    expect(body).not.toContain('<b>arm64');
    expect(JSON.parse(await get(`/api/builds/${id}`)).platforms).toEqual([{ platform: 'linux/<b>arm64</b>', digest: ARM }]);
  });

  it("the images page names the platforms under a tag's digest while the tag names the index its build pushed", async () => {
    const id = built([
      { platform: 'linux/amd64', digest: AMD },
      { platform: 'linux/arm64', digest: ARM },
    ]);
    const OTHER = `sha256:${'9'.repeat(64)}`;
    for (const digest of [INDEX, OTHER])
      m.inventory.addManifest({ repository: 'alice/shop', digest, mediaType: 'application/vnd.oci.image.index.v1+json', children: [], tombstone: false }, [
        { digest, size: 500 },
      ]);
    const pushedAt = new Date().toISOString();
    m.inventory.setTag({ repository: 'alice/shop', tag: 'main', digest: INDEX, owner: 'alice', buildId: id, pushedAt });
    // A tag the build pushed that has moved to another image since: its platforms are not that image's.
    m.inventory.setTag({ repository: 'alice/shop', tag: 'moved', digest: OTHER, owner: 'alice', buildId: id, pushedAt });
    const body = await get('/images/alice');
    const row = (tag: string) => new RegExp(`<tr><td class="mono">${tag}</td>[\\s\\S]*?</tr>`).exec(body)![0];
    expect(row('main')).toContain(
      `<td class="mono" title="${INDEX}">sha256:111111111111<ul class="refs platforms muted">` +
        `<li title="${AMD}">linux/amd64</li><li title="${ARM}">linux/arm64</li></ul></td>`,
    );
    expect(row('moved')).toContain(`<td class="mono" title="${OTHER}">sha256:999999999999</td>`);
  });
});
