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

  // Pruned, a misspelt `perDayUSD` written by helm or `kubectl patch` was dropped before the operator
  // could refuse it (ninth round): every spec object keeps unknown fields for the strict zod schema.
  it('keeps unknown fields in every spec object and prunes them in status', () => {
    const objects = (node: Record<string, unknown>, path: string): [string, Record<string, unknown>][] => [
      ...(node.type === 'object' ? [[path, node] as [string, Record<string, unknown>]] : []),
      ...Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>).flatMap(
        ([k, v]) => objects(v, `${path}.${k}`),
      ),
      ...(node.items ? objects(node.items as Record<string, unknown>, `${path}[]`) : []),
    ];
    for (const crd of Object.values(crds())) {
      const root = crd.spec.versions[0]!.schema.openAPIV3Schema as {
        properties: { spec: Record<string, unknown>; status: Record<string, unknown> };
      };
      const spec = objects(root.properties.spec, 'spec');
      expect(spec.length).toBeGreaterThan(2);
      for (const [path, node] of spec) expect(node['x-kubernetes-preserve-unknown-fields'], path).toBe(true);
      for (const [path, node] of objects(root.properties.status, 'status'))
        expect(node, path).not.toHaveProperty('x-kubernetes-preserve-unknown-fields');
      expect(root).not.toHaveProperty('x-kubernetes-preserve-unknown-fields');
    }
  });

  // Pruned, a field left empty (`perDayUsd:`, every `endpoints:` entry commented out) written by
  // server-side apply, `kubectl create`, helm or an API client was dropped before the operator could
  // refuse it: the policy lost its cap or its allowlist and was Ready (eleventh round).
  it('marks every optional spec field nullable, and no required one nor any status field', () => {
    const fields = (
      node: Record<string, unknown>,
      path: string,
    ): [string, Record<string, unknown>, boolean][] =>
      Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>).flatMap(([k, v]) => [
        [`${path}.${k}`, v, ((node.required ?? []) as string[]).includes(k)] as [
          string,
          Record<string, unknown>,
          boolean,
        ],
        ...fields(v, `${path}.${k}`),
        ...(v.items ? fields(v.items as Record<string, unknown>, `${path}.${k}[]`) : []),
      ]);
    for (const crd of Object.values(crds())) {
      const root = crd.spec.versions[0]!.schema.openAPIV3Schema as {
        properties: { spec: Record<string, unknown>; status: Record<string, unknown> };
      };
      const spec = fields(root.properties.spec, 'spec');
      expect(spec.filter(([, , required]) => !required).length).toBeGreaterThan(3);
      for (const [path, node, required] of spec) expect(node.nullable === true, path).toBe(!required);
      for (const [path, node] of fields(root.properties.status, 'status'))
        expect(node, path).not.toHaveProperty('nullable');
    }
  });

  it('turns a closed object into one that keeps unknown fields, and leaves an open one pruned', () => {
    const properties = { a: { type: 'string' } };
    expect(toStructural({ type: 'object', properties, additionalProperties: false })).toEqual({
      type: 'object',
      properties: { a: { type: 'string', nullable: true } },
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(toStructural({ type: 'object', properties })).toEqual({ type: 'object', properties });
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
