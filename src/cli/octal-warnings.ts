import { LineCounter, parseAllDocuments, visit } from 'yaml';
import { resolveTyped } from '../sources/file/kubectl-scalar.ts';
import { escapeForTerminal } from '../terminal-text.ts';

/**
 * policy-check: a plain integer written with a leading 0 (`requestsPerMinute: 0120`). Manifests are
 * read as kubectl reads them, YAML 1.1, where that is octal: 0120 is 80 and 010 is 8 (README `serve`).
 * Documented and as kubectl does, but a zero-padded number is far more often meant as decimal, so it
 * is warned of, with what it reads as (seventh round). A warning, not an error: the value is valid.
 *
 * Only a file whose text could hold one is parsed again (`yaml`, as the reference reader does); the
 * others cost one regular-expression scan.
 */
export function octalWarnings(text: string, source: string): string[] {
  if (!MAYBE_OCTAL.test(text)) return [];
  const warnings: string[] = [];
  const lineCounter = new LineCounter();
  for (const doc of parseAllDocuments(text, { schema: 'failsafe', lineCounter })) {
    if (doc.errors.length > 0) continue; // refused with its own error
    // A warning quotes what was written: only in the kinds that hold no secret. A Secret's value
    // (a numeric PIN, an underscore-separated token) would otherwise reach a CI log three times.
    if (!WARNED_KINDS.has(String(doc.get('kind')))) continue;
    visit(doc, {
      Scalar(key, node) {
        if (key === 'key' || node.type !== 'PLAIN' || typeof node.value !== 'string') return;
        const written = node.value;
        const digits = written.replaceAll('_', '');
        if (!OCTAL.test(digits)) return;
        const value = resolveTyped(written);
        // 07 is 7 either way: only a number whose reading differs is worth a word.
        if (typeof value !== 'bigint' || value === BigInt(digits)) return;
        const decimal = digits.replace(/^([-+]?)0+(?=[0-9])/, '$1');
        const { line } = lineCounter.linePos(node.range?.[0] ?? 0);
        warnings.push(
          escapeForTerminal(
            `warning: ${source} line ${line}: ${written} has a leading 0, so it reads as the octal number ${value}, as kubectl reads it; write ${value} if that is meant, or ${decimal} for the decimal`,
          ),
        );
      },
    });
  }
  return warnings;
}

/** Kinds whose numbers are worth a warning and which hold no secret (not Secret, not a List of them). */
const WARNED_KINDS = new Set(['SpendPolicy', 'VaultKey']);
/** A plain scalar that starts with a 0 followed by a digit, after a space, `[`, `,` or `{`. */
const MAYBE_OCTAL = /(?:^|[\s[,{])[-+]?0_*[0-9]/;
/** go-yaml v2's octal: a sign, then 0 and octal digits (`_` removed). */
const OCTAL = /^[-+]?0[0-7]+$/;
