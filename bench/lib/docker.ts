import { execa } from 'execa';

/**
 * Removes from a daemon's image store (DOCKER_HOST in `env`; the local one without) every image whose repository
 * starts with one of `prefixes` (`<registry>/<owner>/`): what a section's builds left there. Never throws.
 */
export async function removeImages(prefixes: string[], env: Record<string, string> = {}): Promise<void> {
  const docker = (...args: string[]) => execa('docker', args, { env, reject: false });
  const listed = await docker('images', '--format', '{{.Repository}} {{.ID}}');
  const ids = [
    ...new Set(
      (listed.stdout ?? '')
        .split('\n')
        .filter((l) => prefixes.some((p) => l.startsWith(p)))
        .map((l) => l.split(' ')[1]!),
    ),
  ];
  if (ids.length) await docker('rmi', '-f', ...ids);
}
