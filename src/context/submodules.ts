/**
 * Git submodules in a build context served from git (git-tree.ts). A gitlink (mode 160000) names a commit of
 * another repository; codehub-build can read it only when that repository is one of its own, the build's
 * pusher may read it, and the commit was pushed there: the server has no credentials for other hosts (and,
 * usually, no internet). Anything else is a problem naming the submodule's path, its URL (password masked) and
 * what to do, which the tree reports only when the build would read the submodule.
 */
import { execa } from 'execa';
import { gitEnv } from '../git/env.js';
import type { RepoStore } from '../git/repos.js';
import { nameProblem } from '../names.js';

/** A gitlink to resolve: where it is, what .gitmodules says it is, and the repo whose .gitmodules that is. */
export interface SubmoduleRef {
  /** The submodule's path from the top of the pushed repo (nested ones joined: `vendor/lib/deps/x`), for messages. */
  path: string;
  /** Its URL from .gitmodules, as written there (may hold a password: never shown as is). */
  url: string;
  /** The commit the gitlink records. */
  commit: string;
  /** The repo (`owner/name`) whose .gitmodules names it, which a relative URL is resolved against. */
  superRepo: string;
}

export type SubmoduleResolution = { ok: true; gitDir: string; repo: string } | { ok: false; problem: string };

/** Finds the bare repo that holds a submodule's commit, or says why the build cannot have it. */
export interface SubmoduleResolver {
  resolve(sub: SubmoduleRef): Promise<SubmoduleResolution>;
}

/** What a submodule URL names: a repo of this server, or something else and why it cannot be used. */
export type SubmoduleUrl = { ok: true; owner: string; repo: string } | { ok: false; problem: string };

/**
 * The repo of this server a submodule URL names. Absolute: http(s) with the public URL's host and port, the
 * path `<public path>/git/<owner>/<repo>[.git]`, userinfo ignored (the pusher's access decides, not the URL's
 * credentials). Relative (`./`, `../`): resolved as git does, against the superproject's own URL
 * `<public URL>/git/<owner>/<repo>.git`, so `../lib.git` is a sibling of the same owner.
 */
export function parseSubmoduleUrl(url: string, opts: { publicUrl: string; superRepo: string }): SubmoduleUrl {
  const pub = new URL(opts.publicUrl);
  const prefix = pub.pathname.replace(/\/+$/, '');
  let path: string;
  if (url.startsWith('./') || url.startsWith('../')) {
    // git's relative_url(): `..` drops one component of the superproject's URL, `.` none; `./x` is *inside* it.
    const parts = `${prefix}/git/${opts.superRepo}.git`.split('/').filter(Boolean);
    for (const part of url.split('/')) {
      if (part === '..') {
        if (!parts.length) return { ok: false, problem: `it climbs above ${pub.origin}${prefix}/` };
        parts.pop();
      } else if (part && part !== '.') parts.push(part);
    }
    path = `/${parts.join('/')}`;
  } else {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      // scp-like `git@host:path`, a local path: git would fetch those over ssh or the file system.
      return { ok: false, problem: `it is not an http(s) URL of this server (${pub.origin}${prefix})` };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return { ok: false, problem: `${u.protocol.slice(0, -1)} URLs are not served by this server (${pub.origin}${prefix})` };
    if (u.hostname.toLowerCase() !== pub.hostname.toLowerCase() || effectivePort(u) !== effectivePort(pub)) {
      return {
        ok: false,
        problem: `${u.host} is another host: codehub-build has no credentials for it and reads submodules only from its own repos (${pub.origin}${prefix}/git/<owner>/<repo>.git)`,
      };
    }
    path = u.pathname;
  }
  const m = path.startsWith(`${prefix}/git/`) ? /^([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(path.slice(prefix.length + 5)) : null;
  if (!m) return { ok: false, problem: `it is not a repo URL of this server: those are ${pub.origin}${prefix}/git/<owner>/<repo>.git` };
  const [, owner = '', repo = ''] = m;
  const problem = nameProblem('owner', owner) ?? nameProblem('repo', repo);
  if (problem) return { ok: false, problem };
  return { ok: true, owner, repo };
}

const effectivePort = (u: URL): string => u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '');

/**
 * A URL fit for a log: a password becomes `***`, and so does a bare http(s) user name, which is how tokens
 * are often put in URLs (`https://<token>@host/…`). ssh's `git@` stays: it is no secret.
 */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon >= 0) return `${scheme}${userinfo.slice(0, colon)}:***@`;
    return /^https?:\/\/$/i.test(scheme) ? `${scheme}***@` : `${scheme}${userinfo}@`;
  });
}

/** Each submodule path in a repo's .gitmodules and its URL, from `git config -z --list` output. */
export function parseGitmodules(configList: string): Map<string, string> {
  const byName = new Map<string, { path?: string; url?: string }>();
  for (const rec of configList.split('\0')) {
    if (!rec) continue;
    const nl = rec.indexOf('\n');
    const key = nl < 0 ? rec : rec.slice(0, nl);
    const value = nl < 0 ? '' : rec.slice(nl + 1);
    // `submodule.<name>.<var>`: the name keeps its case and may hold dots; section and variable come lowercased.
    if (!key.startsWith('submodule.')) continue;
    const dot = key.lastIndexOf('.');
    if (dot <= 'submodule.'.length) continue;
    const name = key.slice('submodule.'.length, dot);
    const v = key.slice(dot + 1);
    if (v !== 'path' && v !== 'url') continue;
    const m = byName.get(name) ?? {};
    m[v] = value;
    byName.set(name, m);
  }
  const out = new Map<string, string>();
  for (const m of byName.values()) if (m.path !== undefined && m.url !== undefined) out.set(m.path.replace(/^\.\/|\/+$/g, ''), m.url);
  return out;
}

/**
 * The submodule URLs of a commit's .gitmodules by path (empty without the file), or why it cannot be read.
 * include.path is not followed: the file is the user's, and includes could name any file of the server.
 */
export async function readGitmodules(gitDir: string, commit: string): Promise<{ ok: true; urls: Map<string, string> } | { ok: false; problem: string }> {
  const blob = `${commit}:.gitmodules`;
  const exists = await execa('git', ['--git-dir', gitDir, 'cat-file', '-e', '--end-of-options', blob], { env: gitEnv(), extendEnv: false, reject: false });
  if (exists.exitCode !== 0) return { ok: true, urls: new Map() };
  const r = await execa('git', ['--git-dir', gitDir, 'config', '--no-includes', '--blob', blob, '--list', '-z'], {
    env: gitEnv(),
    extendEnv: false,
    reject: false,
  });
  if (r.exitCode !== 0) return { ok: false, problem: `.gitmodules at ${commit.slice(0, 12)} cannot be read: ${r.stderr.trim().split('\n').pop()}` };
  return { ok: true, urls: parseGitmodules(r.stdout) };
}

/** Whether `commit` is on a branch or tag of the bare repo (an object a force-push left behind is not). */
async function reachable(gitDir: string, commit: string): Promise<boolean> {
  if (!/^[0-9a-f]{40}$/.test(commit)) return false;
  const r = await execa('git', ['--git-dir', gitDir, 'for-each-ref', '--count=1', `--contains=${commit}`, '--format=%(refname)', 'refs/heads/', 'refs/tags/'], {
    env: gitEnv(),
    extendEnv: false,
    reject: false,
  });
  return r.exitCode === 0 && r.stdout.trim() !== '';
}

export interface ResolverDeps {
  /**
   * Whether user `pusher` may read owner/repo, by the same rules as a clone (owner, or shared with them);
   * 'no such user' when the pusher is no longer a user. The builds pass src/auth/access.ts's `userMayRead`.
   */
  canRead(pusher: string, owner: string, repo: string): boolean | 'no such user';
  repos: Pick<RepoStore, 'path' | 'exists'>;
  /** The server's public URL (CODEHUB_PUBLIC_URL): what absolute submodule URLs must point at. */
  publicUrl: string;
}

/**
 * The resolver for one build: submodules the build's pusher may read, by the same rules as a clone (owner,
 * or shared with them; src/auth/access.ts). The pusher's token is not known once the build runs, so an admin
 * token's reach over every repo does not carry over: a build reads what its pusher's own user may read.
 */
export function submoduleResolver(deps: ResolverDeps, pusher: string): SubmoduleResolver {
  const pub = deps.publicUrl.replace(/\/+$/, '');
  return {
    async resolve(sub) {
      const where = `submodule ${sub.path} (${maskUrl(sub.url)})`;
      const parsed = parseSubmoduleUrl(sub.url, { publicUrl: pub, superRepo: sub.superRepo });
      if (!parsed.ok)
        return {
          ok: false,
          problem: `${where} cannot be read: ${parsed.problem}; push it to this server and point .gitmodules at it, or leave ${sub.path} out of the build (.dockerignore)`,
        };
      const repo = `${parsed.owner}/${parsed.repo}`;
      const may = deps.canRead(pusher, parsed.owner, parsed.repo);
      if (may === 'no such user') return { ok: false, problem: `${where}: the build's pusher ${pusher} is no longer a user, so it may read no repo` };
      if (!may) {
        // As everywhere else, another user's repo is not admitted to exist to someone who may not read it.
        return {
          ok: false,
          problem: `${where}: ${pusher} may not read ${repo} (it is not shared with ${pusher}, or does not exist); its owner can share it: codehub-build repo share ${repo} ${pusher} --role read`,
        };
      }
      if (!deps.repos.exists(parsed.owner, parsed.repo)) {
        return { ok: false, problem: `${where}: there is no repository ${repo} on this server; push it first: git push ${pub}/git/${repo}.git` };
      }
      const gitDir = deps.repos.path(parsed.owner, parsed.repo);
      if (!(await reachable(gitDir, sub.commit))) {
        return {
          ok: false,
          problem: `${where}: commit ${sub.commit} is not on a branch or tag of ${repo}; push ${sub.commit} to ${repo} first (in the submodule: git push ${pub}/git/${repo}.git ${sub.commit}:refs/heads/<branch>)`,
        };
      }
      return { ok: true, gitDir, repo };
    },
  };
}
