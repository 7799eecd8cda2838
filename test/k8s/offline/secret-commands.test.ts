// The commands the examples give for creating an upstream Secret by hand: the operator watches only
// Secrets labelled keybrake.dev/secret=true, so a comment that says `kubectl create secret` without
// the `kubectl label` after it leaves a VaultKey that never becomes Ready (ninth round: the quick
// start's secrets.yaml, resend.yaml and twilio.yaml had only the create).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CREATE = /kubectl -n (\S+) create secret generic (\S+)/g;

const files = readdirSync(join(ROOT, 'examples'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(ROOT, 'examples', f));
const creates = files.flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(CREATE)].map(([, namespace, name]) => ({
    where: `${relative(ROOT, file)}: ${name}`,
    text,
    label: `kubectl -n ${namespace} label secret ${name} keybrake.dev/secret=true`,
  }));
});

describe('examples that create an upstream Secret by hand', () => {
  it('exist', () => {
    expect(creates.length).toBeGreaterThan(0);
  });

  it.each(creates)('label it for the operator ($where)', ({ text, label }) => {
    expect(text).toContain(label);
  });
});
