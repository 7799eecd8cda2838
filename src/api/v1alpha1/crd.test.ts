import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdFiles, crdObjects, generateCrds, toStructural } from './crd.ts';
import { CRD_DIRS } from './write-crds.ts';

interface CrdShape {
  spec: {
    names: { shortNames: string[] };
    versions: {
      subresources: unknown;
      additionalPrinterColumns: { name: string; priority?: number }[];
      schema: { openAPIV3Schema: unknown };
    }[];
  };
}
const crds = () => crdObjects() as unknown as { vaultKeys: CrdShape; spendPolicies: CrdShape };

describe('generated CRDs', () => {
  it.each(Object.entries(crdFiles()))('crds/%s matches the zod schemas (run write-crds.ts)', (name, text) => {
    const committed = readFileSync(new URL(`../../../crds/${name}`, import.meta.url), 'utf8');
    expect(committed).toBe(text);
  });

  // Helm installs the chart's own copy: it must be the same bytes, or `helm install` and
  // `kubectl apply -f crds/` would install different schemas.
  const chartCrds = new URL('../../../charts/keybrake/crds/', import.meta.url);
  it('the chart carries exactly the CRD files of crds/ (write-crds.ts writes both)', () => {
    expect(CRD_DIRS).toEqual(['crds/', 'charts/keybrake/crds/']);
    expect(readdirSync(chartCrds).sort()).toEqual(Object.keys(crdFiles()).sort());
    expect(readdirSync(new URL('../../../crds/', import.meta.url)).sort()).toEqual(
      Object.keys(crdFiles()).sort(),
    );
  });

  it.each(Object.keys(crdFiles()))('charts/keybrake/crds/%s equals crds/ byte for byte', (name) => {
    expect(readFileSync(new URL(name, chartCrds))).toEqual(
      readFileSync(new URL(`../../../crds/${name}`, import.meta.url)),
    );
  });

  it('emits two parseable documents', () => {
    const docs = parseAllDocuments(generateCrds());
    expect(docs).toHaveLength(2);
    expect(docs.map((d) => (d.toJS() as { spec: { names: { kind: string } } }).spec.names.kind)).toEqual([
      'VaultKey',
      'SpendPolicy',
    ]);
  });

  it('never places additionalProperties beside properties, nor $schema, and types every node', () => {
    const walk = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const o = node as Record<string, unknown>;
      if ('properties' in o) {
        expect(o, path).not.toHaveProperty('additionalProperties');
        expect(o.type, path).toBe('object');
        for (const [k, v] of Object.entries(o.properties as object)) {
          expect((v as { type?: string }).type, `${path}.${k}`).toBeDefined();
          walk(v, `${path}.${k}`);
        }
      }
      expect(o, path).not.toHaveProperty('$schema');
      if ('items' in o) walk(o.items, `${path}[]`);
    };
    for (const crd of Object.values(crds())) {
      walk(crd.spec.versions[0]!.schema.openAPIV3Schema, '$');
    }
  });

  it('has the short names, status subresource and printer columns kubectl shows', () => {
    const { vaultKeys, spendPolicies } = crds();
    expect(vaultKeys.spec.names.shortNames).toEqual(['vk']);
    expect(spendPolicies.spec.names.shortNames).toEqual(['sp']);
    expect(vaultKeys.spec.versions[0]!.subresources).toEqual({ status: {} });
    expect(
      vaultKeys.spec.versions[0]!.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name),
    ).toEqual(['Policy', 'Vendor', 'Spent-Today', 'Cap', 'Ready', 'Age']);
  });

  it('refuses a schema node without a type', () => {
    expect(() => toStructural({ type: 'object', properties: { x: { anyOf: [] } } })).toThrow(/anyOf/);
    expect(() => toStructural({ type: 'object', properties: { x: {} } })).toThrow(/type/);
  });
});
