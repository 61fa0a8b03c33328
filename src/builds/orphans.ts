import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Variables a build's client process carries, so a later server can recognise it (see BuildIO.processEnv). */
export function buildProcessEnv(instance: string, buildId: number): Record<string, string> {
  return { CODEHUB_INSTANCE: instance, CODEHUB_BUILD_ID: String(buildId) };
}

/**
 * The prefix of a build's work folder in the temp dir (mkdtemp adds six characters): it carries the server's
 * instance, so that a start removes what its own crash left and never the work of another server on the host.
 */
export function workDirPrefix(instance: string, buildId: number): string {
  return join(tmpdir(), `codehub-build-${instance}-${buildId}-`);
}

/**
 * Removes this instance's build work folders (they may hold a build's registry credential) except those of
 * `running` builds. At start none runs, so what a crash left goes. Returns how many were removed.
 */
export async function removeWorkDirs(instance: string, running: ReadonlySet<number> = new Set(), dir = tmpdir()): Promise<number> {
  const mine = new RegExp(`^codehub-build-${instance.replace(/[^A-Za-z0-9]/g, '\\$&')}-(\\d+)-[A-Za-z0-9]{6}$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = mine.exec(name);
    if (!m || running.has(Number(m[1]))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Stops BuildKit clients a dead server left running for these builds (found by their environment in /proc),
 * so that a re-run is the only one that pushes. Returns how many were stopped. Linux only; elsewhere none
 * are found.
 */
export async function stopOrphans(instance: string, buildIds: number[]): Promise<number> {
  const found = await findBuildProcesses(instance, buildIds);
  for (const pid of found)
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  // Wait (bounded) for them to go, so their solves are cancelled before the builds run again.
  for (let i = 0; i < 50 && found.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of found.filter(alive))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  return found.length;
}

/** Pids of processes (other than this one) whose environment marks them as one of these builds' clients. */
export async function findBuildProcesses(instance: string, buildIds: number[]): Promise<number[]> {
  if (buildIds.length === 0) return [];
  const wanted = new Set(buildIds.map(String));
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return [];
  }
  const found: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      let environ: string;
      try {
        environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      } catch {
        return; // gone, or not ours to read
      }
      const vars = environ.split('\0');
      if (vars.includes(`CODEHUB_INSTANCE=${instance}`) && vars.some((v) => v.startsWith('CODEHUB_BUILD_ID=') && wanted.has(v.slice(17))))
        found.push(Number(pid));
    }),
  );
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
