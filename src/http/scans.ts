import { Hono } from 'hono';
import type { NewFindingsAnswer, VulnerabilitiesAnswer } from '../api/answers.js';
import { NewFindingsQuery, parseRequest, SbomQuery } from '../api/requests.js';
import type { Access } from '../auth/access.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { parseImageRef } from '../images/tags.js';
import { SERVER_VERSION } from '../paths.js';
import { newFindings, reportFindings, storedBuildScan } from '../scan/report.js';
import { defaultPlatform } from '../scan/inventory.js';
import { imageSbom, scannedPlatforms } from '../scan/sbom-report.js';
import type { Build } from '../store/schema.js';
import type { Caller } from '../store/scopes.js';
import type { Store } from '../store/store.js';
import { Lookups } from './lookups.js';
import { checked } from './outcome.js';
import { findingView, scanView } from './views.js';

export interface ScanRoutesDeps {
  store: Store;
  access: Access;
}

type Env = { Variables: { caller: Caller } };

/** The image a build pushed, as `registry/owner/image` (its first reference without the tag). */
const imageOf = (b: Build) => (b.imageRefs[0] ? parseImageRef(b.imageRefs[0]).name : b.image);

/** A build's scan (issue 26): its findings judged by its policy, and its image's SBOM; whoever may read the build. */
export function scanRoutes(deps: ScanRoutesDeps): Hono<Env> {
  const app = new Hono<Env>();
  const lookups = new Lookups(deps.store, deps.access);

  app.get('/builds/:id/vulnerabilities', (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'));
    const scan = storedBuildScan(b.scan);
    const findings = scan && b.digest ? reportFindings(deps.store, b.digest, scan, new Date()).map(findingView) : [];
    const answer: VulnerabilitiesAnswer = { build: b.id, image: imageOf(b), digest: b.digest, scan: scanView(b.scan), findings };
    return c.json(answer);
  });

  app.get('/vulnerabilities/new', (c) => {
    const caller = c.get('caller');
    const q = checked(parseRequest(NewFindingsQuery, c.req.query()));
    const r = newFindings(deps.store, (repo) => deps.access.canRead(caller, repo), q.since);
    const answer: NewFindingsAnswer = {
      since: r.since,
      findings: r.findings.map((f) => ({ ...findingView(f), repo: f.repo, build: f.build, digest: f.digest })),
      more: r.more,
    };
    return c.json(answer);
  });

  app.get('/builds/:id/sbom', (c) => {
    const b = lookups.build(c.get('caller'), c.req.param('id'));
    const q = checked(parseRequest(SbomQuery, c.req.query()));
    const tags = b.imageRefs.flatMap((r) => parseImageRef(r).tag ?? []);
    // The index's order, as the build's scan read it: the default platform is linux/amd64 if present, else its first.
    const order = storedBuildScan(b.scan)?.platforms?.map((p) => p.platform) ?? [];
    const platforms = b.digest ? scannedPlatforms(deps.store, b.digest, order) : [];
    if (q.platform !== undefined && platforms.length > 0 && !platforms.includes(q.platform))
      throw new BadRequestError(`build #${b.id}'s image has no ${q.platform} image: its platforms are ${platforms.join(', ')}`);
    const platform = q.platform ?? defaultPlatform(platforms);
    const created = new Date(b.finishedAt ?? b.queuedAt);
    const sbom = b.digest ? imageSbom(deps.store, b.digest, q.format, { name: imageOf(b), tags, created, version: SERVER_VERSION, platform }) : null;
    if (!sbom) throw new NotFoundError(`build #${b.id}'s image was never inventoried${b.digest ? '' : ' (it pushed no image)'}: there is no SBOM`);
    return c.body(JSON.stringify(sbom, null, 2), 200, {
      'content-type': q.format === 'spdx' ? 'application/spdx+json' : 'application/vnd.cyclonedx+json',
      'content-disposition': `attachment; filename="build-${b.id}${platforms.length > 1 && platform ? `-${platform.replaceAll('/', '-')}` : ''}.${q.format === 'spdx' ? 'spdx' : 'cdx'}.json"`,
    });
  });
  return app;
}
