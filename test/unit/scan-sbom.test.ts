import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { type ImageInventory, inventoryImage, MemoryLayerCache } from '../../src/scan/inventory.js';
import { imagePurl, type SbomMeta } from '../../src/scan/sbom.js';
import { cycloneDx } from '../../src/scan/sbom-cyclonedx.js';
import { type SpdxDocument, slug, spdx } from '../../src/scan/sbom-spdx.js';
import { FakeRegistry, layer, sha } from '../helpers/scan-images.js';

const FIX = (p: string) => readFileSync(fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url)));
const DPKG_STATUS = FIX('packages/dpkg/status');
const DEBIAN_12 = FIX('packages/os-release/debian-12');
// The real lodash package.json with its version set back to 4.17.20, the release DESIGN.md names (the one
// CVE-2021-23337 affects); nothing else in the file is read.
const LODASH = Buffer.from(JSON.stringify({ ...JSON.parse(FIX('packages/npm/lodash-package.json').toString('utf8')), version: '4.17.20' }));
const SCOPED = Buffer.from(JSON.stringify({ name: '@scope/name', version: '1.0.0', license: 'MIT' }));

const EXPAT = 'pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u1?arch=amd64&distro=debian-12';
const LODASH_PURL = 'pkg:npm/lodash@4.17.20';
const SCOPED_PURL = 'pkg:npm/%40scope/name@1.0.0';

const reg = new FakeRegistry();
let client: RegistryClient;
let registry: string;
let inv: ImageInventory;
let meta: SbomMeta;
let layers: string[];

beforeAll(async () => {
  await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
  registry = `127.0.0.1:${(reg.server.address() as AddressInfo).port}`;
  client = new RegistryClient(registry);
  const base = await layer([
    { name: 'etc/os-release', body: DEBIAN_12 },
    { name: 'var/lib/dpkg/status', body: DPKG_STATUS },
  ]);
  // lodash twice, at two paths: one purl, two installs, two components.
  const app = await layer([
    { name: 'srv/node_modules/lodash/package.json', body: LODASH },
    { name: 'app/node_modules/lodash/package.json', body: LODASH },
    { name: 'app/node_modules/@scope/name/package.json', body: SCOPED },
  ]);
  const img = reg.image('alice/app', 'main', [base, app]);
  layers = img.layers;
  inv = await inventoryImage(client, 'alice/app', 'main', { cache: new MemoryLayerCache() });
  meta = {
    name: `${registry}/alice/app`,
    digest: img.digest,
    tags: ['main', 'sha-0123456'],
    created: new Date('2026-12-07T15:30:45.678Z'),
    tool: { name: 'codehub-build', version: '0.1.0' },
  };
});
afterAll(() => new Promise<void>((r) => reg.server.close(() => r())));

type Cdx = ReturnType<typeof cycloneDx>;
const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
const prop = (c: { properties?: { name?: string; value?: string }[] }, name: string) => c.properties?.filter((p) => p.name === name).map((p) => p.value);

describe('the test image', () => {
  it('is a real inventory: the dpkg database, two lodash installs and the scoped package, with no problem', () => {
    expect(inv.problems).toEqual([]);
    expect(inv.distro?.id).toBe('debian');
    expect(inv.packages.filter((p) => p.purl === LODASH_PURL)).toHaveLength(2);
    expect(inv.packages.map((p) => p.purl)).toEqual(expect.arrayContaining([EXPAT, SCOPED_PURL]));
  });
});

describe('cycloneDx', () => {
  it('is valid CycloneDX 1.6 by the library bundled schema (strict), and the validator does refuse a broken one', async () => {
    const bom = cycloneDx(inv, meta);
    expect(await validator.validate(JSON.stringify(bom))).toBeNull();
    // The same document with a component type the spec does not have: the check above can fail.
    const broken = structuredClone(bom);
    (broken.components?.[0] as { type: string }).type = 'gadget';
    expect(await validator.validate(JSON.stringify(broken))).not.toBeNull();
  });

  it('names the image as metadata.component: a container, version the digest, its oci purl, its tags', () => {
    const bom = cycloneDx(inv, meta);
    expect(bom.specVersion).toBe('1.6');
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bom.metadata?.timestamp).toBe('2026-12-07T15:30:45.678Z');
    const image = bom.metadata?.component;
    expect(image).toMatchObject({ type: 'container', name: meta.name, version: meta.digest, purl: imagePurl(meta) });
    expect(image?.purl).toBe(`pkg:oci/app@${meta.digest.replace(':', '%3A')}?arch=amd64&repository_url=${registry}/alice/app`);
    expect(prop(image ?? {}, 'codehub-build:tag')).toEqual(['main', 'sha-0123456']);
    expect(bom.metadata?.tools).toEqual({ components: [{ type: 'application', name: 'codehub-build', version: '0.1.0' }] });
  });

  it('lists every package once with its exact purl, layer and path, in purl-then-path order, plus the OS', () => {
    const bom = cycloneDx(inv, meta);
    const comps = bom.components ?? [];
    const libs = comps.filter((c) => c.type === 'library');
    expect(libs).toHaveLength(inv.packages.length);
    expect(comps.filter((c) => c.type === 'operating-system')).toEqual([expect.objectContaining({ name: 'debian', version: '12' })]);

    const expat = libs.filter((c) => c.purl === EXPAT);
    expect(expat).toHaveLength(1);
    expect(expat[0]).toMatchObject({ name: 'libexpat1', version: '2.5.0-1+deb12u1' });
    expect(prop(expat[0]!, 'codehub-build:layer')).toEqual([layers[0]]);
    expect(prop(expat[0]!, 'codehub-build:path')).toEqual(['/var/lib/dpkg/status']);
    expect(prop(expat[0]!, 'codehub-build:source-name')).toEqual(['expat']);

    const scoped = libs.filter((c) => c.purl === SCOPED_PURL);
    expect(scoped.map((c) => [c.name, c.version, prop(c, 'codehub-build:layer')?.[0]])).toEqual([['@scope/name', '1.0.0', layers[1]]]);

    const lodash = libs.filter((c) => c.purl === LODASH_PURL);
    expect(lodash.map((c) => prop(c, 'codehub-build:path')?.[0])).toEqual(['/app/node_modules/lodash/package.json', '/srv/node_modules/lodash/package.json']);
    expect(new Set(lodash.map((c) => c['bom-ref'])).size).toBe(2);

    const keys = libs.map((c) => [c.purl ?? '', prop(c, 'codehub-build:path')?.[0] ?? ''] as const);
    const sorted = [...keys].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
    expect(keys).toEqual(sorted);
  });

  it('makes the image depend on every component, and every bom-ref unique', () => {
    const bom = cycloneDx(inv, meta);
    const refs = [bom.metadata?.component?.['bom-ref'], ...(bom.components ?? []).map((c) => c['bom-ref'])];
    expect(refs.every((r) => typeof r === 'string' && r.length > 0)).toBe(true);
    expect(new Set(refs).size).toBe(refs.length);
    const image = bom.dependencies?.find((d) => d.ref === bom.metadata?.component?.['bom-ref']);
    expect([...(image?.dependsOn ?? [])].sort()).toEqual(refs.slice(1).sort());
  });

  it('gives a package listed twice in one file two bom-refs and two SPDXIDs, and stays valid', async () => {
    const expat = inv.packages.find((p) => p.purl === EXPAT)!;
    const twice = { ...inv, packages: [...inv.packages, { ...expat }] };
    const bom = cycloneDx(twice, meta);
    expect(await validator.validate(JSON.stringify(bom))).toBeNull();
    const refs = (bom.components ?? []).filter((c) => c.purl === EXPAT).map((c) => c['bom-ref']);
    expect(refs).toEqual([`${EXPAT}|/var/lib/dpkg/status`, `${EXPAT}|/var/lib/dpkg/status|2`]);
    const doc = spdx(twice, meta);
    expect(spdxProblems(doc)).toEqual([]);
    expect(doc.packages.filter((p) => p.name === 'libexpat1')).toHaveLength(2);
  });

  it('is the same document twice but for the serial number', () => {
    const a = cycloneDx(inv, meta);
    const b = cycloneDx(inv, meta);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect({ ...a, serialNumber: '' }).toEqual({ ...b, serialNumber: '' });
    // The inventory's own order does not leak in: reversed packages give the same components.
    const c = cycloneDx({ ...inv, packages: [...inv.packages].reverse() }, meta);
    expect(c.components).toEqual(a.components);
  });
});

const ID = /^SPDXRef-[A-Za-z0-9.-]+$/;
// The fields the SPDX 2.3 JSON schema (spdx/spdx-spec schemas/spdx-schema-2-3.json) allows; it sets
// additionalProperties false on the document, its packages and relationships, so any other key is invalid.
const DOC_KEYS = [
  'SPDXID',
  'annotations',
  'comment',
  'creationInfo',
  'dataLicense',
  'externalDocumentRefs',
  'hasExtractedLicensingInfos',
  'name',
  'revieweds',
  'spdxVersion',
  'documentNamespace',
  'documentDescribes',
  'packages',
  'files',
  'snippets',
  'relationships',
];
const PACKAGE_KEYS = [
  'SPDXID',
  'annotations',
  'attributionTexts',
  'builtDate',
  'checksums',
  'comment',
  'copyrightText',
  'description',
  'downloadLocation',
  'externalRefs',
  'filesAnalyzed',
  'hasFiles',
  'homepage',
  'licenseComments',
  'licenseConcluded',
  'licenseDeclared',
  'licenseInfoFromFiles',
  'name',
  'originator',
  'packageFileName',
  'packageVerificationCode',
  'primaryPackagePurpose',
  'releaseDate',
  'sourceInfo',
  'summary',
  'supplier',
  'validUntilDate',
  'versionInfo',
];

/** What SPDX 2.3 asks of our document, each problem a sentence naming where; [] when there is none. */
function spdxProblems(doc: SpdxDocument): string[] {
  const out: string[] = [];
  const d = doc as unknown as Record<string, unknown>;
  for (const k of ['SPDXID', 'creationInfo', 'dataLicense', 'name', 'spdxVersion']) if (!(k in d)) out.push(`document: no ${k}`);
  for (const k of Object.keys(d)) if (!DOC_KEYS.includes(k)) out.push(`document: ${k} is not an SPDX 2.3 field`);
  if (doc.spdxVersion !== 'SPDX-2.3') out.push(`spdxVersion is ${doc.spdxVersion}`);
  if (doc.dataLicense !== 'CC0-1.0') out.push(`dataLicense is ${doc.dataLicense}`);
  if (doc.SPDXID !== 'SPDXRef-DOCUMENT') out.push(`document SPDXID is ${doc.SPDXID}`);
  if (!/^[a-z][a-z0-9+.-]*:[^#\s]+$/.test(doc.documentNamespace)) out.push(`documentNamespace ${doc.documentNamespace} is not a URI without #`);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(doc.creationInfo.created)) out.push(`created ${doc.creationInfo.created} is not YYYY-MM-DDThh:mm:ssZ`);
  if (!doc.creationInfo.creators.length || !doc.creationInfo.creators.every((c) => /^(Tool|Person|Organization): \S/.test(c)))
    out.push(`creators ${JSON.stringify(doc.creationInfo.creators)}`);
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const [i, p] of doc.packages.entries()) {
    const r = p as unknown as Record<string, unknown>;
    for (const k of ['SPDXID', 'downloadLocation', 'name']) if (!r[k]) out.push(`packages[${i}]: no ${k}`);
    for (const k of Object.keys(r)) if (!PACKAGE_KEYS.includes(k)) out.push(`packages[${i}]: ${k} is not an SPDX 2.3 package field`);
    if (!ID.test(p.SPDXID)) out.push(`packages[${i}]: SPDXID ${p.SPDXID} is not SPDXRef-[A-Za-z0-9.-]+`);
    if (ids.has(p.SPDXID)) out.push(`packages[${i}]: SPDXID ${p.SPDXID} is taken`);
    ids.add(p.SPDXID);
    for (const e of p.externalRefs ?? [])
      if (e.referenceCategory !== 'PACKAGE-MANAGER' || e.referenceType !== 'purl' || /\s/.test(e.referenceLocator))
        out.push(`packages[${i}]: externalRef ${JSON.stringify(e)}`);
  }
  for (const [i, r] of doc.relationships.entries())
    for (const id of [r.spdxElementId, r.relatedSpdxElement]) if (!ids.has(id)) out.push(`relationships[${i}]: ${id} is no element of the document`);
  for (const id of doc.documentDescribes) if (!ids.has(id)) out.push(`documentDescribes: ${id} is no element of the document`);
  return out;
}

describe('spdx', () => {
  it('has every field SPDX 2.3 requires, only its fields, SPDXIDs of its grammar, relationships between its elements', () => {
    const doc = spdx(inv, meta);
    expect(spdxProblems(doc)).toEqual([]);
    // The checks can fail: the OS package renamed with an `@` and `/` (so the image's CONTAINS of it points
    // nowhere), a package with a key SPDX does not have, a relationship to nowhere.
    const broken = structuredClone(doc);
    broken.packages[1]!.SPDXID = 'SPDXRef-@scope/name';
    (broken.packages[2] as unknown as Record<string, unknown>).purl = 'pkg:npm/x@1';
    broken.relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Nowhere' });
    expect(spdxProblems(broken)).toEqual([
      'packages[1]: SPDXID SPDXRef-@scope/name is not SPDXRef-[A-Za-z0-9.-]+',
      'packages[2]: purl is not an SPDX 2.3 package field',
      'relationships[1]: SPDXRef-OperatingSystem-debian is no element of the document',
      `relationships[${doc.relationships.length}]: SPDXRef-Nowhere is no element of the document`,
    ]);
  });

  it('describes the image, which contains the OS and every package, each with its exact purl and layer', () => {
    const doc = spdx(inv, meta);
    expect(doc.name).toBe(`${meta.name}@${meta.digest}`);
    expect(doc.creationInfo).toEqual({ created: '2026-12-07T15:30:45Z', creators: ['Tool: codehub-build-0.1.0'] });
    const [image, os, ...libs] = doc.packages;
    expect(image).toMatchObject({ SPDXID: 'SPDXRef-Image-app', name: meta.name, versionInfo: meta.digest, primaryPackagePurpose: 'CONTAINER' });
    expect(image?.externalRefs?.[0]?.referenceLocator).toBe(imagePurl(meta));
    expect(image?.comment).toBe('tags: main, sha-0123456');
    expect(os).toMatchObject({ name: 'debian', versionInfo: '12', primaryPackagePurpose: 'OPERATING_SYSTEM' });
    expect(doc.documentDescribes).toEqual(['SPDXRef-Image-app']);
    expect(doc.relationships[0]).toEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image-app' });
    expect(doc.relationships.slice(1)).toEqual(
      doc.packages.slice(1).map((p) => ({ spdxElementId: 'SPDXRef-Image-app', relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    );

    expect(libs).toHaveLength(inv.packages.length);
    const purls = libs.map((p) => p.externalRefs?.[0]?.referenceLocator);
    expect(purls.filter((p) => p === EXPAT)).toHaveLength(1);
    expect(purls.filter((p) => p === LODASH_PURL)).toHaveLength(2);
    expect(purls.filter((p) => p === SCOPED_PURL)).toHaveLength(1);
    const expat = libs.find((p) => p.name === 'libexpat1');
    expect(expat).toMatchObject({ versionInfo: '2.5.0-1+deb12u1', downloadLocation: 'NOASSERTION', filesAnalyzed: false, licenseConcluded: 'NOASSERTION' });
    expect(expat?.sourceInfo).toBe(`found in layer ${layers[0]} at /var/lib/dpkg/status; built from source package expat 2.5.0-1+deb12u1`);
    const scoped = libs.find((p) => p.name === '@scope/name');
    expect(scoped?.SPDXID).toMatch(/^SPDXRef-Package-npm-scope-name-\d+$/);
    expect(scoped?.sourceInfo).toBe(`found in layer ${layers[1]} at /app/node_modules/@scope/name/package.json`);
  });

  it('is the same document twice but for its namespace, which is unique each time', () => {
    const a = spdx(inv, meta);
    const b = spdx(inv, meta);
    expect(a.documentNamespace).not.toBe(b.documentNamespace);
    expect(a.documentNamespace.startsWith(`https://codehub-build.invalid/spdx/`)).toBe(true);
    expect({ ...a, documentNamespace: '' }).toEqual({ ...b, documentNamespace: '' });
    expect(spdx({ ...inv, packages: [...inv.packages].reverse() }, meta).packages).toEqual(a.packages);
  });
});

describe('an image the inventory could not read whole', () => {
  it('says so in both documents, and lists no OS it does not know', async () => {
    const only = await layer([{ name: 'app/node_modules/lodash/package.json', body: LODASH }]);
    const absent = sha(Buffer.from('a layer the registry never had'));
    const img = reg.image('alice/partial', 'v1', [only, Buffer.from('x')], [undefined, absent]);
    const partial = await inventoryImage(client, 'alice/partial', 'v1', { cache: new MemoryLayerCache() });
    expect(partial.problems).toHaveLength(1);
    const m = { ...meta, name: `${registry}/alice/partial`, digest: img.digest, tags: [] };

    const bom: Cdx = cycloneDx(partial, m);
    expect(await validator.validate(JSON.stringify(bom))).toBeNull();
    expect(prop(bom.metadata ?? {}, 'codehub-build:problem')).toEqual(partial.problems);
    expect((bom.components ?? []).map((c) => [c.type, c.purl])).toEqual([['library', LODASH_PURL]]);

    const doc = spdx(partial, m);
    expect(spdxProblems(doc)).toEqual([]);
    expect(doc.comment).toBe(`The inventory is incomplete:\n${partial.problems[0]}`);
    expect(doc.packages.map((p) => p.primaryPackagePurpose)).toEqual(['CONTAINER', 'LIBRARY']);
    expect(doc.packages[0]?.comment).toBeUndefined();
  });
});

describe('imagePurl and slug', () => {
  it('spells the oci purl so a purl parser reads back the repository, the digest and the platform', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const purl = imagePurl({ name: 'registry.example:5000/Alice/My_App', digest });
    expect(purl).toBe(`pkg:oci/my_app@sha256%3A${'ab'.repeat(32)}?arch=amd64&repository_url=registry.example:5000/Alice/My_App`);
    const back = PackageURL.fromString(purl);
    expect([back.type, back.name, back.version, back.qualifiers]).toEqual([
      'oci',
      'my_app',
      digest,
      { arch: 'amd64', repository_url: 'registry.example:5000/Alice/My_App' },
    ]);
  });

  it('keeps only letters, digits, dots and dashes', () => {
    expect(slug('@scope/name')).toBe('scope-name');
    expect(slug('libstdc++6')).toBe('libstdc-6');
    expect(slug('python3.11_x')).toBe('python3.11-x');
    expect(slug('@@')).toBe('x');
  });
});
