import { readFileSync } from 'node:fs';

/** `keybrake --version`: the version in package.json, which ships beside cmd/ and src/ (the image too). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
