/**
 * apk's database, `/lib/apk/db/installed`: one record per installed package, records separated by a blank line, each
 * line a one-letter key, `:` and a value (apk-tools' package database format: P name, V version, A architecture,
 * o origin, the source package advisories name; F/R/Z lines list its files and are skipped here).
 */
import { type Distro, distroQualifier, makePurl, type Package, type ParseResult, problemAt } from './types.js';

const LINE_RE = /^([A-Za-z]):(.*)$/;
// apk-tools' version syntax: digits and dots, an optional letter, _suffix[n] parts, then -r<release>.
const VERSION_RE = /^[0-9][0-9A-Za-z._+~-]*$/;

/** The packages of one apk installed database. Only records with P and V are packages; one without is a problem. */
export function parseApkInstalled(path: string, content: Buffer, distro?: Distro): ParseResult {
  const packages: Package[] = [];
  const problems: string[] = [];
  let record: { line: number; fields: Map<string, string> } | null = null;

  const finish = () => {
    if (!record) return;
    const { line, fields } = record;
    record = null;
    const name = fields.get('P');
    const version = fields.get('V');
    if (!name || !version) {
      problems.push(problemAt(path, line, `a record without ${name ? 'V (version)' : 'P (name)'}`));
      return;
    }
    if (!VERSION_RE.test(version)) {
      problems.push(problemAt(path, line, `package ${name}: ${JSON.stringify(version)} is not an apk version`));
      return;
    }
    const arch = fields.get('A') || undefined;
    // The origin is the package it was built from, at the same version: Alpine's secdb and OSV name origins.
    const source = { name: fields.get('o') || name, version };
    const purl = makePurl('apk', distro?.id ?? 'alpine', name, version, { arch, distro: distro ? distroQualifier(distro) : undefined });
    if (!purl.ok) {
      problems.push(problemAt(path, line, purl.problem));
      return;
    }
    packages.push({ ecosystem: 'apk', name, version, source, ...(arch ? { arch } : {}), path, purl: purl.purl });
  };

  const lines = content.toString('utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] ?? '').replace(/\r$/, '');
    if (text.trim() === '') {
      finish();
      continue;
    }
    const m = LINE_RE.exec(text);
    if (!m) {
      problems.push(problemAt(path, i + 1, `not a "K:value" line: ${JSON.stringify(text.slice(0, 80))}`));
      continue;
    }
    if (!record) record = { line: i + 1, fields: new Map() };
    const key = m[1] ?? '';
    // A record names itself once; a second P before a blank line means two records ran together.
    if (key === 'P' && record.fields.has('P')) {
      problems.push(problemAt(path, i + 1, 'a second P line in one record (a blank line missing?)'));
      continue;
    }
    if (!record.fields.has(key)) record.fields.set(key, (m[2] ?? '').trim());
  }
  finish();
  return { packages, problems };
}
