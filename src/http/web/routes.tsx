import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import type { Access } from '../../auth/access.js';
import { actorOf, AuditLog, tokenCreatedDetail } from '../../auth/audit.js';
import { AuditListQuery, parseRequest } from '../../api/requests.js';
import type { Caller } from '../../store/scopes.js';
import type { BuildService } from '../../builds/service.js';
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError } from '../../errors.js';
import type { LogStore } from '../../logs/store.js';
import type { Store } from '../../store/store.js';
import { BuildTrends } from '../../store/build-trends.js';
import type { Build, CommitStatusRow } from '../../store/schema.js';
import { newFindings, type ReportedFinding, reportFindings, storedBuildScan } from '../../scan/report.js';
import { vulnDbSources } from '../../scan/vulndb.js';
import { VulnsPage } from './vulns-page.js';
import { remoteAddress, SESSION_COOKIE, type Authenticator } from '../auth.js';
import { auditEventView } from '../audit.js';
import { audited } from '../audited.js';
import { checked, done } from '../outcome.js';
import { AuditPage } from './audit-page.js';
import { buildFilter, checkRepoParam, Lookups } from '../lookups.js';
import { ASSETS } from './assets.js';
import { badgeState, badgeSvg } from './badge.js';
import { BuildPage } from './build-page.js';
import { HomePage } from './home-page.js';
import { type ImageTagRow, ImagesPage } from './images-page.js';
import { buildPath, ErrorPage, html, type Viewer } from './layout.js';
import { CommitPage, RepoPage } from './repo-page.js';
import { SignInPage } from './sign-in-page.js';
import { expiryChoices, type NewToken, TokensPage } from './tokens-page.js';
import { daysToMs } from '../../auth/expiry.js';
import { createToken, revokeToken } from '../../auth/accounts.js';
import { endSession } from '../../auth/sso.js';
import { SCOPES } from '../../store/scopes.js';
import type { ImageTag, UsageService } from '../../registry/usage.js';
import type { WebSession } from './session.js';

export interface WebDeps {
  store: Store;
  access: Access;
  builds: BuildService;
  logs: LogStore;
  auth: Authenticator;
  session: WebSession;
  publicUrl: string;
  usage: UsageService;
  /** The commit status a build of a linked repo owes its forge. */
  statusOf?: (buildId: number) => CommitStatusRow | undefined;
  /** CODEHUB_VULNDB_MAX_AGE: the vulnerabilities page warns past it (default 7 days). */
  vulndbMaxAgeMs?: number;
  /** CODEHUB_TOKEN_MAX_DAYS: the tokens page offers no longer lifetime (null or absent: tokens may live forever). */
  tokenMaxDays?: number | null;
  /** Single sign-on, when configured: /login offers the provider (its name on the button) beside the token form. */
  sso?: { providerName: string };
}

/** Marks a request as a page's, so the app's one error handler answers it with a page rather than JSON. */
export type WebEnv = { Variables: { page: true; caller: Caller; viewer: Viewer } };

const PAGE_SIZE = 50;
const HOME_REPOS = 100;
/** Upload builds (`codehub-build build`) the home page lists: the viewer's newest. */
const HOME_UPLOADS = 10;
/** Log lines a build page shows by default: the last 5,000 (about 0.8 MiB of HTML). */
export const LOG_TAIL_LINES = 5000;

/**
 * Content-Security-Policy for every page: nothing from other origins, no inline script or style, no framing.
 * The pages work with script off; with it on, only /static/build.js runs.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The web pages for people: sign-in, repos, a repo's builds, a commit's builds, a build with its live log,
 * the build actions, and status badges. Thin over the same Store, Access and BuildService as the API, so a
 * page shows exactly what the API would answer the same token.
 */
export function webRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const lookups = new Lookups(deps.store, deps.access);
  const audit = new AuditLog(deps.store);
  const trends = new BuildTrends(deps.store.db);

  app.get('/static/:name', (c) => {
    const a = ASSETS[c.req.param('name')];
    if (!a) throw new NotFoundError(`no file ${c.req.param('name')}`);
    c.header('cache-control', 'public, max-age=300');
    c.header('etag', a.etag);
    if (c.req.header('if-none-match') === a.etag) return c.body(null, 304);
    return c.body(a.body, 200, { 'content-type': a.type, 'x-content-type-options': 'nosniff' });
  });

  // Badges answer images, never pages: a README that embeds one wants an image (or nothing) back.
  app.get('/badge/:owner/:repo/*', (c) => {
    const { owner, repo } = c.req.param();
    const full = `${owner}/${repo}`;
    const prefix = `/badge/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/`;
    const rest = decodeURIComponent(c.req.path.slice(prefix.length));
    checkRepoParam(full);
    if (!rest.endsWith('.svg')) throw new BadRequestError(`a badge is /badge/<owner>/<repo>/<branch>.svg; got ${JSON.stringify(c.req.path)}`);
    const branch = rest.slice(0, -'.svg'.length);
    const row = deps.store.repos.byName(owner, repo);
    const caller = deps.auth.caller(c);
    const visible = row && (row.publicBadge || (caller && deps.access.canRead(caller, full)));
    // A private repo's badge is no different from a missing repo's, to anyone who may not read it.
    if (!visible) throw new NotFoundError(`no repository ${full}`);
    const state = badgeState(deps.store.builds.forBadge(full, branch));
    c.header('cache-control', row.publicBadge ? 'no-cache' : 'private, no-cache');
    return c.body(badgeSvg('build', state.text, state.color), 200, { 'content-type': 'image/svg+xml; charset=utf-8', 'x-content-type-options': 'nosniff' });
  });

  // Middleware is registered per page path: this app is mounted at / beside git and the API, whose
  // requests must never meet a page's sign-in redirect or security headers.
  const pageHeaders = async (c: Context<WebEnv>, next: () => Promise<void>) => {
    c.set('page', true);
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    // Browsers name the page a form was posted from: one from another site is refused before anything runs
    // (this also covers the sign-in form, which no session protects yet).
    const origin = c.req.header('origin');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && origin && origin !== new URL(c.req.url).origin && origin !== new URL(deps.publicUrl).origin) {
      throw new ForbiddenError(`a form posted from ${origin} is refused: forms are taken only from this site's own pages`);
    }
    await next();
  };
  for (const path of ['/', '/login', '/logout', '/repos/*', '/builds/*', '/images/*', '/vulnerabilities', '/audit', '/tokens', '/tokens/*'])
    app.use(path, pageHeaders);

  app.get('/login', (c) => {
    if (deps.auth.caller(c)) return c.redirect(localPath(c.req.query('next')), 303);
    return c.html(html(<SignInPage next={localPath(c.req.query('next'))} sso={deps.sso} />));
  });

  app.post(
    '/login',
    bodyLimit({
      maxSize: 4096,
      onError: () => {
        throw new PayloadTooLargeError('a sign-in form is a token and a path');
      },
    }),
    async (c) => {
      const form = await c.req.parseBody();
      const token = typeof form.token === 'string' ? form.token.trim() : '';
      const next = localPath(typeof form.next === 'string' ? form.next : undefined);
      const caller = token ? deps.auth.signIn(c, token) : undefined;
      if (!caller) {
        const problem = token ? (deps.auth.refusalOf(token) ?? 'That token is not valid: it was mistyped, revoked, or its user removed.') : 'Enter a token.';
        return c.html(html(<SignInPage next={next} sso={deps.sso} error={problem} />), 401);
      }
      deps.session.signIn(c, token);
      audit.record(actorOf(caller, remoteAddress(c)), 'sign_in', caller.user.name);
      return c.redirect(next, 303);
    },
  );

  app.post(
    '/logout',
    bodyLimit({
      maxSize: 4096,
      onError: () => {
        throw new PayloadTooLargeError('a sign-out form is at most 4 KiB');
      },
    }),
    async (c) => {
      const token = getCookie(c, SESSION_COOKIE);
      const form = await c.req.parseBody();
      // Signing out needs the CSRF token too: another site must not be able to sign a user out either.
      if (token && !deps.session.csrfValid(token, form.csrf))
        throw new ForbiddenError('the form is stale or came from another site; reload the page and try again');
      deps.session.signOut(c);
      // Only a browser that was signed in signed out; a stale cookie's token may be revoked by now.
      const caller = deps.auth.byToken(token);
      // A single sign-on session ends on the server too: its cookie, copied elsewhere, no longer works.
      const session = caller?.via === 'session' && endSession(deps.store, token);
      if (caller) audit.record(actorOf(caller, remoteAddress(c)), 'sign_out', caller.user.name, session ? { detail: { method: 'oidc' } } : {});
      return c.redirect('/login', 303);
    },
  );

  /**
   * The pages below need a signed-in caller; a browser without one is sent to sign in and brought back.
   * A form (any method but GET and HEAD) is taken on the cookie only with the page's CSRF token, checked
   * here so that no form route can forget it.
   */
  const signedIn = async (c: Context<WebEnv>, next: () => Promise<void>) => {
    const cookie = getCookie(c, SESSION_COOKIE) ?? '';
    const safe = c.req.method === 'GET' || c.req.method === 'HEAD';
    const caller = safe ? deps.auth.caller(c) : deps.auth.byToken(cookie);
    if (!caller) {
      if (!safe) throw new ForbiddenError('sign in first: this form needs a signed-in browser');
      return c.redirect(`/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`, 303);
    }
    if (!safe && !deps.session.csrfValid(cookie, (await c.req.parseBody()).csrf)) {
      throw new ForbiddenError('the form is stale or came from another site; reload the page and try again');
    }
    c.set('caller', caller);
    c.set('viewer', { name: caller.user.name, csrf: deps.session.csrf(cookie) });
    await next();
  };
  const formLimit = bodyLimit({
    maxSize: 4096,
    onError: () => {
      throw new PayloadTooLargeError('a form here is at most 4 KiB');
    },
  });
  app.use('/builds/*', formLimit);
  app.use('/tokens', formLimit);
  app.use('/tokens/*', formLimit);
  for (const path of ['/', '/repos/*', '/builds/*', '/images/*', '/vulnerabilities', '/audit', '/tokens', '/tokens/*']) app.use(path, signedIn);

  app.get('/', (c) => {
    const caller = c.get('caller');
    deps.access.requireScope(caller, 'read');
    const all = deps.store.repos.readable(deps.access.readable(caller));
    // One query per repo shown: an admin of a large server sees the first HOME_REPOS and how many more there are.
    const repos = all.slice(0, HOME_REPOS).map((repo) => ({ repo, lines: deps.store.builds.latestPerLine(`${repo.owner}/${repo.name}`) }));
    // "Your uploads" are the viewer's own (an upload's repo is `<uploader>/<image>`): their own namespace, not
    // everything they may read, so an admin does not see every user's uploads as theirs.
    const uploads = deps.store.builds.list({ readable: { all: false, owner: caller.user.name, shared: [] }, source: 'upload', limit: HOME_UPLOADS });
    return c.html(
      html(<HomePage viewer={c.get('viewer')} repos={repos} more={all.length - repos.length} uploads={uploads} publicUrl={deps.publicUrl} now={Date.now()} />),
    );
  });

  app.get('/repos/:owner/:repo', (c) => {
    const { owner, repo } = c.req.param();
    const row = lookups.repo(c.get('caller'), owner, repo);
    const full = `${row.owner}/${row.name}`;
    const q = c.req.query();
    // An empty field of the filter form means no filter.
    const filter = { branch: q.branch?.trim() || undefined, ...buildFilter({ status: q.status || undefined, commit: q.commit?.trim() || undefined }) };
    const before = q.before === undefined ? undefined : Number(q.before);
    if (before !== undefined && !(Number.isInteger(before) && before > 0))
      throw new BadRequestError('before must be a build number from the "Older builds" link');
    const rows = deps.store.builds.list({
      readable: { all: true },
      repo: full,
      ref: filter.branch,
      status: filter.status,
      commit: filter.commit,
      beforeId: before,
      limit: PAGE_SIZE + 1,
    });
    const page = rows.slice(0, PAGE_SIZE);
    // The images this repo builds, as they are in the registry; their tags page is the owner's (and an admin's).
    const built = new Set(deps.store.builds.imagesOf(full));
    const images = deps.usage.of(row.owner).images.filter((i) => built.has(i.image));
    const caller = c.get('caller');
    return c.html(
      html(
        <RepoPage
          viewer={c.get('viewer')}
          repo={full}
          filter={filter}
          builds={page}
          now={Date.now()}
          publicUrl={deps.publicUrl}
          older={rows.length > PAGE_SIZE ? String(page[page.length - 1]!.id) : undefined}
          newest={before === undefined}
          defaultBranch={row.defaultBranch}
          images={images}
          showImages={caller.user.name === row.owner || caller.scopes.includes('admin')}
          trends={before === undefined ? trends.of(full) : []}
        />,
      ),
    );
  });

  app.get('/vulnerabilities', (c) => {
    const caller = c.get('caller');
    const r = newFindings(deps.store, (repo) => deps.access.canRead(caller, repo));
    return c.html(
      html(
        <VulnsPage
          viewer={c.get('viewer')}
          sources={vulnDbSources(deps.store)}
          maxAgeMs={deps.vulndbMaxAgeMs ?? 7 * 86_400_000}
          since={r.since}
          findings={r.findings}
          more={r.more}
          now={Date.now()}
        />,
      ),
    );
  });

  // The audit log, as GET /api/audit shows it to the same token; an empty field of the form is no filter.
  app.get('/audit', (c) => {
    const caller = c.get('caller');
    const given = Object.fromEntries(
      Object.entries(c.req.query())
        .filter(([, v]) => v.trim() !== '')
        .map(([k, v]) => [k, v.trim()]),
    );
    const q = checked(parseRequest(AuditListQuery, { limit: String(PAGE_SIZE), ...given }));
    const page = audit.list(caller, q);
    const filter = { actor: given.actor, action: given.action, repo: given.repo, since: given.since };
    return c.html(
      html(
        <AuditPage
          viewer={c.get('viewer')}
          admin={caller.scopes.includes('admin')}
          filter={filter}
          events={page.events.map(auditEventView)}
          older={page.next}
          now={Date.now()}
        />,
      ),
    );
  });

  app.get('/images/:owner', (c) => {
    const owner = lookups.namespace(c.get('caller'), c.req.param('owner'));
    return c.html(
      html(<ImagesPage viewer={c.get('viewer')} usage={deps.usage.of(owner)} images={withPlatforms(deps.store, deps.usage.tags(owner))} now={Date.now()} />),
    );
  });

  app.get('/repos/:owner/:repo/commits/:sha', (c) => {
    const { owner, repo, sha } = c.req.param();
    const found = lookups.commit(c.get('caller'), owner, repo, sha);
    return c.html(html(<CommitPage viewer={c.get('viewer')} repo={found.repo} sha={found.commit} builds={found.builds} now={Date.now()} />));
  });

  app.get('/builds/:id', async (c) => {
    const caller = c.get('caller');
    const b = lookups.build(caller, c.req.param('id'));
    const canWrite = deps.access.allows(caller, b.owner, b.repo.slice(b.owner.length + 1), 'write');
    const lines = await deps.logs.read(b.id);
    // A long log shows its tail (where the error is) unless the whole was asked for; the raw log has it all.
    const hidden = c.req.query('full') === '1' ? 0 : Math.max(0, lines.length - LOG_TAIL_LINES);
    return c.html(
      html(
        <BuildPage
          viewer={c.get('viewer')}
          b={b}
          lines={lines.slice(hidden)}
          hidden={hidden}
          canWrite={canWrite}
          now={Date.now()}
          forgeStatus={deps.statusOf?.(b.id)}
          findings={findingsOf(deps.store, b)}
        />,
      ),
    );
  });

  // The build actions as forms (signedIn checked the CSRF token): the same checks as the API's, then back to the page.
  for (const action of ['cancel', 'rebuild'] as const) {
    app.post(`/builds/:id/${action}`, async (c) => {
      const caller = c.get('caller');
      const b = lookups.build(caller, c.req.param('id'), 'write');
      const done = action === 'cancel' ? await deps.builds.cancel(b.id, caller.user.name) : await deps.builds.rebuild(b.id, caller.user.name);
      audited(audit, c, action === 'cancel' ? 'build.cancel' : 'build.rebuild', `#${b.id}`, {
        repo: b.repo,
        ...(action === 'rebuild' ? { detail: { build: done.id } } : {}),
      });
      return c.redirect(buildPath(done.id), 303);
    });
  }

  // The viewer's own personal tokens (signedIn checked the CSRF token of the forms).
  const tokensPage = (c: Context<WebEnv>, status: 200 | 400, more: { made?: NewToken; error?: string } = {}) => {
    const caller = c.get('caller');
    // A token made here is shown once: no cache may keep the page.
    c.header('cache-control', 'no-store');
    const offered = SCOPES.filter((s) => caller.scopes.includes(s));
    const tokens = deps.store.accounts.listTokens(caller.user.id);
    const expiries = expiryChoices(deps.tokenMaxDays ?? null);
    return c.html(html(<TokensPage viewer={c.get('viewer')} tokens={tokens} offered={offered} expiries={expiries} now={Date.now()} {...more} />), status);
  };
  app.get('/tokens', (c) => tokensPage(c, 200));

  app.post('/tokens', async (c) => {
    const caller = c.get('caller');
    const form = await c.req.parseBody({ all: true });
    const label = typeof form.label === 'string' ? form.label.trim() : '';
    const scopes = [form.scopes ?? []].flat().filter((s): s is string => typeof s === 'string');
    // A token never has more than what made it: admin only from an admin's session or token, push not from a read-only token.
    const beyond = scopes.filter((s) => !(caller.scopes as readonly string[]).includes(s));
    if (beyond.length) throw new ForbiddenError(`you are signed in without the ${beyond.join(', ')} scope, so no token you make may have it`);
    // `never` asks for no lifetime: under a site maximum createToken gives the maximum (the form offers no `never` then).
    const days = form.expires === undefined || form.expires === 'never' ? undefined : Number(form.expires);
    if (days !== undefined && !(Number.isInteger(days) && days > 0)) return tokensPage(c, 400, { error: 'expires: a number of days, or never' });
    const made = createToken(
      deps.store,
      caller.user.name,
      { label, scopes, ...(days !== undefined ? { lifetimeMs: daysToMs(days) } : {}) },
      { maxDays: deps.tokenMaxDays ?? null },
    );
    if (!made.ok) return tokensPage(c, 400, { error: made.problem });
    // The same event as the admin API's and the CLI's token create (the actor says it came from a page).
    audited(audit, c, 'token.create', String(made.id), { detail: tokenCreatedDetail(made) });
    return tokensPage(c, 200, { made: { id: made.id, token: made.token, label: made.label, scopes: made.scopes, expiresAt: made.expiresAt } });
  });

  app.post('/tokens/:id/revoke', (c) => {
    const caller = c.get('caller');
    const id = Number(c.req.param('id'));
    // Only the viewer's own: another user's token id is as unknown as a missing one.
    const own = Number.isSafeInteger(id) && deps.store.accounts.listTokens(caller.user.id).some((t) => t.id === id);
    if (!own) throw new NotFoundError(`you have no token ${c.req.param('id')}`);
    done(revokeToken(deps.store, id));
    audited(audit, c, 'token.revoke', String(id));
    return c.redirect('/tokens', 303);
  });

  return app;
}

/** Where to go after signing in: a path on this site only, never another origin (`//evil`, `/\evil`). */
export function localPath(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) && !/[\r\n]/.test(next) ? next : '/';
}

/** A page that says what went wrong, for the app's error handler to answer a page's request with. */
export function errorPage(status: number, message: string, viewer?: Viewer): string {
  return html(<ErrorPage status={status} message={message} viewer={viewer} />);
}

/** A build's findings for its page, judged now; none when it was not scanned. */
function findingsOf(store: Store, b: Build): ReportedFinding[] {
  const scan = storedBuildScan(b.scan);
  return scan && b.digest ? reportFindings(store, b.digest, scan, new Date()) : [];
}

/** The images' tags, each that names the index a build pushed with that build's platforms (one query for all). */
function withPlatforms(store: Store, images: { image: string; tags: ImageTag[] }[]): { image: string; tags: ImageTagRow[] }[] {
  const pushed = store.builds.platformsOf(images.flatMap((i) => i.tags.flatMap((t) => (t.buildId === null ? [] : [t.buildId]))));
  return images.map(({ image, tags }) => ({
    image,
    tags: tags.map((t) => {
      const b = t.buildId === null ? undefined : pushed.get(t.buildId);
      return b && b.digest === t.digest ? { ...t, platforms: b.platforms } : t;
    }),
  }));
}
