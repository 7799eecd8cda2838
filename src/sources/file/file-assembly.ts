import { ByNamespace } from '../../api/by-namespace.ts';
import type { DocumentError, RejectedObject } from '../../api/resource-set.ts';
import type { Secret, SpendPolicy, VaultKey } from '../../api/v1alpha1/index.ts';
import { assemble, type ValidationResult, type Verdict } from '../../api/validate.ts';

/** One file's verdicts sorted for the set: its resources by kind, its problems, in document order. */
interface FileParts {
  readonly policies: SpendPolicy[];
  readonly keys: VaultKey[];
  readonly secrets: Secret[];
  readonly rejected: RejectedObject[];
  readonly errors: DocumentError[];
}

type Kind = 'VaultKey' | 'SpendPolicy' | 'Secret';

/**
 * `assemble` for the file source, one file's verdicts at a time, reusing what it made of the files
 * it was given last time (the file reader hands an unchanged file's verdicts back as the very same
 * array). Its result is `assemble(files.flat())`'s, and is that when a name is defined twice.
 *
 * Why: `assemble` looks every resource up to find duplicates, 200 000 lookups per reload of a
 * 100 000-key directory, most of a reload's validation. Here each (kind, namespace, name) is counted
 * once as its file comes and uncounted as it goes, so a reload looks up the names of the files that
 * changed. While no name is defined twice (a directory `serve` accepts), the set is the files' parts
 * put together in order, exactly what `assemble` would make; when one is, `assemble` itself runs,
 * which names every duplicate (and `serve` refuses the change).
 */
export function createFileAssembler(): {
  assemble(files: readonly (readonly Verdict[])[]): ValidationResult;
} {
  const counts: Record<Kind, ByNamespace<number>> = {
    VaultKey: new ByNamespace(),
    SpendPolicy: new ByNamespace(),
    Secret: new ByNamespace(),
  };
  /** Names defined more than once, over the files counted. */
  let duplicated = 0;
  /** The files counted, with how often each is in the list, and their parts. */
  let counted = new Map<readonly Verdict[], { times: number; parts: FileParts }>();

  const count = (parts: FileParts, by: 1 | -1) => {
    const each = (kind: Kind, resources: readonly (VaultKey | SpendPolicy | Secret)[]) => {
      const names = counts[kind];
      for (const { metadata } of resources) {
        const namespace = metadata.namespace!; // checkDocuments gives every resource one
        const was = names.get(namespace, metadata.name) ?? 0;
        const now = was + by;
        if (now === 0) names.delete(namespace, metadata.name);
        else names.set(namespace, metadata.name, now);
        if (was < 2 && now >= 2) duplicated++;
        else if (was >= 2 && now < 2) duplicated--;
      }
    };
    each('SpendPolicy', parts.policies);
    each('VaultKey', parts.keys);
    each('Secret', parts.secrets);
  };

  return {
    assemble(files) {
      const next = new Map<readonly Verdict[], { times: number; parts: FileParts }>();
      for (const file of files) {
        const entry = next.get(file);
        if (entry) entry.times++;
        else next.set(file, { times: 1, parts: counted.get(file)?.parts ?? partsOf(file) });
      }
      for (const [file, { times, parts }] of counted)
        for (let i = next.get(file)?.times ?? 0; i < times; i++) count(parts, -1);
      for (const [file, { times, parts }] of next)
        for (let i = counted.get(file)?.times ?? 0; i < times; i++) count(parts, 1);
      counted = next;
      if (duplicated > 0) return assemble(files.flat());

      const policies: SpendPolicy[] = [];
      const keys: VaultKey[] = [];
      const secrets: Secret[] = [];
      const rejected: RejectedObject[] = [];
      const errors: DocumentError[] = [];
      for (const file of files) {
        const parts = next.get(file)!.parts;
        append(policies, parts.policies);
        append(keys, parts.keys);
        append(secrets, parts.secrets);
        append(rejected, parts.rejected);
        append(errors, parts.errors);
      }
      return { set: { policies, keys, secrets, rejected }, errors };
    },
  };
}

function partsOf(verdicts: readonly Verdict[]): FileParts {
  const parts: FileParts = { policies: [], keys: [], secrets: [], rejected: [], errors: [] };
  for (const v of verdicts) {
    if (v.type === 'invalid') {
      append(parts.errors, v.errors);
      if (v.rejected) parts.rejected.push(v.rejected);
    } else if (v.kind === 'VaultKey') parts.keys.push(v.value as VaultKey);
    else if (v.kind === 'SpendPolicy') parts.policies.push(v.value as SpendPolicy);
    else parts.secrets.push(v.value as Secret);
  }
  return parts;
}

function append<T>(to: T[], from: readonly T[]): void {
  for (const x of from) to.push(x);
}
