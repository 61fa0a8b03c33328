/**
 * Trivy as a yardstick for the scanner's inventory (scripts/trivy.sh installs it; never the product's dependency):
 * its package listing of an image, and a key to compare its purls with ours.
 *
 * Offline by construction: `--format cyclonedx` turns Trivy's security scanners off (it says so: "--format
 * cyclonedx disables security scanning"), so no vulnerability database is needed; `--skip-db-update`,
 * `--skip-java-db-update` and `--offline-scan` make sure nothing is fetched (the last stops the jar analyzer from
 * asking Maven Central about a jar it cannot name). A fresh `--cache-dir` per call keeps every listing cold.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { PackageURL } from 'packageurl-js';

const SCRIPT = fileURLToPath(new URL('../../scripts/trivy.sh', import.meta.url));

/** The trivy binary's path; throws with scripts/trivy.sh's own sentence when it is not installed. */
export function trivyPath(): string {
  return execFileSync('bash', [SCRIPT, 'path'], { encoding: 'utf8' }).trim();
}

/** Where Trivy reads the image: an image in a Registry v2 (plain HTTP on loopback), or a `docker save` tar. */
export type TrivyImage = ({ ref: string; username?: string; password?: string } | { tar: string }) & {
  /** Folders of the image Trivy must not read (`--skip-dirs`). */
  skipDirs?: string[];
};

export interface TrivyComponent {
  purl: string;
  /** Trivy's own package type (`debian`, `node-pkg`, `python-pkg`, `jar`, `gobinary`, ...). */
  trivyType: string;
  /** The file Trivy found it in, for language packages (`aquasecurity:trivy:FilePath`); absent for OS packages. */
  filePath?: string;
}

export interface TrivyListing {
  /** Every component that has a purl (the operating system itself has none). */
  components: TrivyComponent[];
  /** The operating system Trivy detected, e.g. `debian 12.11`, or null. */
  os: string | null;
}

interface CdxComponent {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  properties?: { name: string; value: string }[];
}

const prop = (c: CdxComponent, name: string): string | undefined => c.properties?.find((p) => p.name === `aquasecurity:trivy:${name}`)?.value;

/** Trivy's CycloneDX listing of `image`'s packages. Throws with Trivy's output when it fails. */
export async function trivyPackages(image: TrivyImage): Promise<TrivyListing> {
  const work = mkdtempSync(join(tmpdir(), 'chb-trivy-'));
  const out = join(work, 'bom.json');
  const target = 'tar' in image ? ['--input', image.tar] : ['--image-src', 'remote', '--insecure', image.ref];
  const args = ['image', '--format', 'cyclonedx', '--skip-db-update', '--skip-java-db-update', '--offline-scan', '--quiet', '--cache-dir', join(work, 'cache')];
  for (const d of image.skipDirs ?? []) args.push('--skip-dirs', d);
  const env: Record<string, string> = {};
  // The password goes in the environment, where Trivy's own help asks for it, never on a command line.
  if ('ref' in image && image.username) {
    env.TRIVY_USERNAME = image.username;
    env.TRIVY_PASSWORD = image.password ?? '';
  }
  try {
    const r = await execa(trivyPath(), [...args, '--output', out, ...target], { env, reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`trivy ${[...args, ...target].join(' ')} failed (${r.exitCode}):\n${r.all}`);
    const bom = JSON.parse(readFileSync(out, 'utf8')) as { components?: CdxComponent[] };
    const all = bom.components ?? [];
    const os = all.find((c) => c.type === 'operating-system');
    return {
      os: os ? `${os.name} ${os.version ?? ''}`.trim() : null,
      components: all.filter((c) => c.purl).map((c) => ({ purl: c.purl!, trivyType: prop(c, 'PkgType') ?? 'unknown', filePath: prop(c, 'FilePath') })),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A package's identity across tools: purl type, namespace and name, version, decoded (Trivy writes `+` in a
 * Debian version as is, we write `%2B`) and without qualifiers (Trivy's distro is `debian-12.11`, ours
 * `debian-12`; the arch agrees). Trivy moves a Debian epoch out of the version into an `epoch` qualifier
 * (`bsdutils@2.38.1-5+deb12u3?epoch=1`); we keep dpkg's whole version (`1:2.38.1-5+deb12u3`): the key puts the
 * epoch back. E.g. `deb debian/bsdutils 1:2.38.1-5+deb12u3`, `npm @types/node 20.1.0`.
 */
export function purlKey(purl: string): string {
  const p = PackageURL.fromString(purl);
  const epoch = p.qualifiers?.epoch;
  const version = epoch && p.version && !p.version.includes(':') ? `${epoch}:${p.version}` : (p.version ?? '');
  return `${p.type} ${p.namespace ? `${p.namespace}/` : ''}${p.name} ${version}`;
}
