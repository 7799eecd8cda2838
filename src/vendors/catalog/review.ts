import type { CatalogClass } from '../types.ts';
import type { DefinedOperation } from './definition.ts';

/**
 * A vendor's hand-reviewed classification (`<vendor>/review.ts`): ordered rules, the first whose
 * pattern matches an operation of the definition gives it its class. A GET no rule matches is a
 * `read`; every other operation must be matched by a rule, so nothing gets a class by default.
 */
export interface ReviewRule<Rule extends string = string> {
  /**
   * `METHOD /template` as the definition writes it (`POST /v1/refunds`), or a pattern: the method may
   * be `*` or alternatives (`POST|DELETE`); in the path `*` matches within one segment, `**` across
   * segments, and a final `/**` the path itself or anything below it.
   */
  readonly match: string;
  /** Twilio: the sub host, or alternatives (`chat|ip-messaging`); absent: any host. */
  readonly host?: string;
  readonly class: CatalogClass;
  /** The pricing rule of a `money` operation (required there, refused elsewhere). */
  readonly rule?: Rule;
  /** Objects the call leases (ADR 0007 §5): `{placeholder}` of the path, or a body parameter. */
  readonly locks?: readonly string[];
  /** Keeps an id existing code and policies use, instead of the derived one; exact rules only. */
  readonly id?: string;
  /** Why, where the class is not obvious from the operation's name. */
  readonly note?: string;
}

/** An operation of the definition with the class (and rule, locks, id) review gave it. */
export interface ReviewedOperation<Rule extends string = string> extends DefinedOperation {
  readonly class: CatalogClass;
  readonly rule?: Rule;
  readonly locks?: readonly string[];
}

export interface Review<Rule extends string> {
  readonly operations: readonly ReviewedOperation<Rule>[];
  /** Everything that keeps the review from being complete and exact; empty when it is. */
  readonly problems: readonly string[];
}

interface CompiledRule<Rule extends string> {
  readonly source: ReviewRule<Rule>;
  readonly methods: ReadonlySet<string> | undefined;
  readonly hosts: ReadonlySet<string> | undefined;
  readonly path: RegExp | string;
}

/** Applies the rules to every operation of a definition; reports unmatched writes, unused rules and bad rows. */
export function applyReview<Rule extends string>(
  definition: readonly DefinedOperation[],
  rules: readonly ReviewRule<Rule>[],
): Review<Rule> {
  const compiled = rules.map(compileRule);
  const used = new Map<CompiledRule<Rule>, number>();
  const problems: string[] = rules.flatMap(ruleProblems);
  const operations = definition.map((op): ReviewedOperation<Rule> => {
    const rule = compiled.find((r) => matches(r, op));
    if (!rule) {
      if (op.method !== 'GET') problems.push(`${describe(op)}: no review rule classifies it`);
      return { ...op, class: 'read' };
    }
    used.set(rule, (used.get(rule) ?? 0) + 1);
    const { class: cls, rule: pricing, locks, id } = rule.source;
    return {
      ...op,
      ...(id !== undefined ? { id } : {}),
      class: cls,
      ...(pricing !== undefined ? { rule: pricing } : {}),
      ...(locks !== undefined ? { locks } : {}),
    };
  });
  for (const rule of compiled) {
    const count = used.get(rule) ?? 0;
    if (count === 0) problems.push(`rule ${show(rule.source)} matches no operation of the definition`);
    if (rule.source.id !== undefined && count !== 1)
      problems.push(`rule ${show(rule.source)} names id ${rule.source.id} but matches ${count} operations`);
  }
  const ids = new Map<string, string>();
  for (const op of operations) {
    const other = ids.get(op.id);
    if (other) problems.push(`${describe(op)}: id ${op.id} is also ${other}'s`);
    ids.set(op.id, describe(op));
  }
  return { operations, problems };
}

function ruleProblems<Rule extends string>(rule: ReviewRule<Rule>): string[] {
  const problems: string[] = [];
  if (rule.class === 'money' && rule.rule === undefined)
    problems.push(`rule ${show(rule)}: money without a pricing rule`);
  if (rule.class !== 'money' && rule.rule !== undefined)
    problems.push(`rule ${show(rule)}: pricing rule ${rule.rule} on a ${rule.class} operation`);
  if (rule.id !== undefined && rule.match.includes('*'))
    problems.push(`rule ${show(rule)}: an id needs an exact match`);
  return problems;
}

function compileRule<Rule extends string>(source: ReviewRule<Rule>): CompiledRule<Rule> {
  const space = source.match.indexOf(' ');
  const method = source.match.slice(0, space);
  const path = source.match.slice(space + 1);
  if (space < 1 || !path.startsWith('/'))
    throw new Error(`review rule "${source.match}" is not "METHOD /path"`);
  return {
    source,
    methods: method === '*' ? undefined : new Set(method.split('|')),
    hosts: source.host === undefined || source.host === '*' ? undefined : new Set(source.host.split('|')),
    path: path.includes('*') ? globRegex(path) : path,
  };
}

/**
 * `*` matches within one segment, `**` across segments, and a final `/**` the path itself or
 * anything below it: `/v1/apps/secrets/**` matches `/v1/apps/secrets` and `/v1/apps/secrets/find`.
 */
function globRegex(glob: string): RegExp {
  const below = glob.endsWith('/**');
  const fixed = below ? glob.slice(0, -3) : glob;
  const body = fixed
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((text) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${body}${below ? '(?:/.*)?' : ''}$`);
}

function matches<Rule extends string>(rule: CompiledRule<Rule>, op: DefinedOperation): boolean {
  if (rule.methods && !rule.methods.has(op.method)) return false;
  if (rule.hosts && !rule.hosts.has(op.host ?? '')) return false;
  return typeof rule.path === 'string' ? rule.path === op.path : rule.path.test(op.path);
}

function describe(op: DefinedOperation): string {
  return `${op.host ? `${op.host} ` : ''}${op.method} ${op.path}`;
}

function show(rule: ReviewRule<string>): string {
  return `${rule.host ? `${rule.host} ` : ''}${rule.match}`;
}
