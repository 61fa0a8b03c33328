// A buildkitd as buildctl sees it: the TLS flags that reach it, whether it answers and who answers. The buildctl
// driver uses these, and so does the buildx driver for a remote buildkitd; buildx's kept-context helpers are used
// by the buildctl driver, so these live apart from both (no cycle between buildx.ts and buildctl.ts).
import { execa } from 'execa';
import { clientEnv } from './solve.js';
import type { BuilderTls } from './tls.js';

/** buildctl's TLS flags (global ones: they go before the command). */
export function buildctlTlsArgs(tls?: BuilderTls): string[] {
  if (!tls) return [];
  const args = ['--tlscacert', tls.ca];
  if (tls.cert && tls.key) args.push('--tlscert', tls.cert, '--tlskey', tls.key);
  if (tls.servername) args.push('--tlsservername', tls.servername);
  return args;
}

/**
 * What `buildctl debug workers` and `buildctl du` say of a buildkitd (`global`: its address and TLS flags): whether
 * it answers, who answers (its worker ids: a buildkitd makes its id once, in its `--root`, so a new root is a new
 * id), and whether its cache is empty (null: `du` did not say).
 */
export async function buildkitdState(
  bin: string,
  global: string[],
): Promise<{ ok: true; identity: string | undefined; empty: boolean | null } | { ok: false; problem: string }> {
  const run = (args: string[]) => execa(bin, [...global, ...args], { env: clientEnv({}), extendEnv: false, reject: false, timeout: 8_000 });
  const r = await run(['debug', 'workers']);
  if (r.exitCode !== 0)
    return {
      ok: false,
      problem: r.timedOut
        ? 'no answer within 8 s'
        : String(r.stderr || r.message || 'failed')
            .trim()
            .split('\n')
            .pop()!,
    };
  const du = await run(['du']);
  return { ok: true, identity: workerIdentity(String(r.stdout)), empty: du.exitCode === 0 ? cacheIsEmpty(String(du.stdout)) : null };
}

/**
 * The identity in `buildctl debug workers`' table (a header `ID PLATFORMS`, then a row per worker): `worker` and the
 * ids, sorted; undefined when it lists none.
 */
export function workerIdentity(table: string): string | undefined {
  const ids = table
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((id) => /^[a-z0-9]+$/i.test(id));
  return ids.length ? `worker ${ids.sort().join(',')}` : undefined;
}

/** `buildctl du`'s or `buildx du`'s table: whether it lists no cache record (only its header and totals, or nothing). */
export function cacheIsEmpty(table: string): boolean {
  return !table.split('\n').some((l) => l.trim() !== '' && !/^ID\s+RECLAIMABLE\b/.test(l) && !/^(Shared|Private|Reclaimable|Total):/.test(l));
}
