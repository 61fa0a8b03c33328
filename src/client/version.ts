import { readFileSync } from 'node:fs';

/** Set by the bundler in the downloadable CLI; absent when running from the compiled checkout. */
declare const __CODEHUB_VERSION__: string | undefined;

/** This codehub-build's version (package.json's). */
export function version(): string {
  if (typeof __CODEHUB_VERSION__ === 'string') return __CODEHUB_VERSION__;
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
