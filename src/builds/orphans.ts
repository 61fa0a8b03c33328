import { readdir, readFile } from 'node:fs/promises';

/** Variables a build's client process carries, so a later server can recognise it (see BuildIO.processEnv). */
export function buildProcessEnv(instance: string, buildId: number): Record<string, string> {
  return { CODEHUB_INSTANCE: instance, CODEHUB_BUILD_ID: String(buildId) };
}

/**
 * Stops BuildKit clients a dead server left running for these builds (found by their environment in /proc),
 * so that a re-run is the only one that pushes. Returns how many were stopped. Linux only; elsewhere none
 * are found.
 */
export async function stopOrphans(instance: string, buildIds: number[]): Promise<number> {
  const found = await findBuildProcesses(instance, buildIds);
  for (const pid of found) try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  // Wait (bounded) for them to go, so their solves are cancelled before the builds run again.
  for (let i = 0; i < 50 && found.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of found.filter(alive)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
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
  await Promise.all(pids.map(async (pid) => {
    let environ: string;
    try {
      environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    } catch {
      return; // gone, or not ours to read
    }
    const vars = environ.split('\0');
    if (vars.includes(`CODEHUB_INSTANCE=${instance}`) && vars.some((v) => v.startsWith('CODEHUB_BUILD_ID=') && wanted.has(v.slice(17)))) found.push(Number(pid));
  }));
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
