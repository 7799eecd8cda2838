import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DocumentError } from '../api/resource-set.ts';
import type { CompileOutcome } from '../compiler/runner.ts';
import type { DeletedObject, KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import { createLogger } from '../telemetry/logger.ts';
import { createChangeReport } from './change-report.ts';
import type { OperatorEvent } from './events.ts';

/** `held`: the uids of the VaultKeys that held a token before the change. */
function recorder(held: ReadonlySet<string> = new Set()) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const events: OperatorEvent[] = [];
  const report = createChangeReport({
    log: createLogger({ destination }),
    recordEvent: async (e) => {
      events.push(e);
    },
    heldToken: (uid) => held.has(uid),
  });
  return { lines, events, report };
}

const problem = (name: string): DocumentError => ({
  source: `kubernetes:VaultKey/agents/${name}`,
  index: 0,
  kind: 'VaultKey',
  namespace: 'agents',
  name,
  path: 'spec.policyRef',
  message: 'is required',
});

function outcome(version: number, errors: DocumentError[], deleted: DeletedObject[] = []) {
  const update: KubernetesSourceUpdate = {
    set: { policies: [], keys: [], secrets: [], rejected: [] },
    errors,
    deleted,
    changedAt: 0,
  };
  return {
    applied: true,
    snapshot: { version, compiledAt: 0, keys: new Map() },
    statuses: [],
    errors,
    update,
  } satisfies CompileOutcome<KubernetesSourceUpdate>;
}

describe('change report', () => {
  it('logs an invalid resource when it shows up, not again while it stays invalid', () => {
    const { lines, report } = recorder();
    report(outcome(1, [problem('a')]));
    report(outcome(2, [problem('a'), problem('b')]));
    report(outcome(3, []));
    report(outcome(4, [problem('a')]));
    const logged = lines.filter((l) => l.msg === 'invalid resource').map((l) => l.problem);
    expect(logged).toEqual([
      'kubernetes:VaultKey/agents/a: document 1 (VaultKey agents/a): spec.policyRef: is required',
      'kubernetes:VaultKey/agents/b: document 1 (VaultKey agents/b): spec.policyRef: is required',
      'kubernetes:VaultKey/agents/a: document 1 (VaultKey agents/a): spec.policyRef: is required',
    ]);
  });

  it('logs a deleted VaultKey as revoked from this version on and records Revoked; a policy only goes', () => {
    const { lines, events, report } = recorder(new Set(['uid-bot']));
    report(
      outcome(
        7,
        [],
        [
          { kind: 'VaultKey', namespace: 'agents', name: 'bot', uid: 'uid-bot' },
          { kind: 'SpendPolicy', namespace: 'agents', name: 'p' },
        ],
      ),
    );
    expect(lines.filter((l) => l.msg === 'revoked')).toEqual([
      expect.objectContaining({ vaultKey: 'agents/bot', version: 7 }),
    ]);
    expect(events).toEqual([
      expect.objectContaining({
        reason: 'Revoked',
        object: expect.objectContaining({ name: 'bot', uid: 'uid-bot' }),
      }),
    ]);
  });

  it('logs a deleted VaultKey that held no token (TokenConflict) as deleted, revoking nothing: no Revoked Event', () => {
    const { lines, events, report } = recorder(new Set(['uid-bot']));
    report(outcome(8, [], [{ kind: 'VaultKey', namespace: 'agents', name: 'evil', uid: 'uid-evil' }]));
    expect(lines.filter((l) => l.msg === 'revoked')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'deleted; it held no token to revoke')).toEqual([
      expect.objectContaining({ vaultKey: 'agents/evil', version: 8 }),
    ]);
    expect(events).toEqual([]);
  });
});
