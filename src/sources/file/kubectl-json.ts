import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Node,
  type Scalar,
  type YAMLMap,
} from 'yaml';
import { kubectlEscapeProblem } from './kubectl-escapes.ts';
import { plainKeyName, resolveTyped, type Typed } from './kubectl-scalar.ts';

/**
 * A document parsed by `yaml` with the failsafe schema (every scalar its text) → the JSON value
 * kubectl would send for it: sigs.k8s.io/yaml's YAMLToJSON, which decodes with its go-yaml v2 fork
 * (YAML 1.1 scalars, `kubectl-scalar.ts`) and then names every key as a JSON field. The reference
 * reading of a manifest (parse-yaml.ts); the plain reader must agree with it.
 *
 * Where go-yaml v2 and sigs.k8s.io/yaml differ from YAML 1.2, this follows them:
 * - merge keys: a plain `<<` merges a mapping, or a sequence of mappings (the first wins), into the
 *   mapping it is in, as go-yaml v2 does: in order, so a key written before the `<<` is overwritten
 *   by the merged one and a key after it overwrites;
 * - keys: `yes:` is the field `true`, `1:` the field `1`; a null key kubectl refuses;
 * - `.inf` and `.nan` anywhere refuse the document (JSON has no such numbers; kubectl's conversion fails);
 * - so does a double-quoted string with an escape go-yaml v2 does not read (kubectl-escapes.ts).
 * Refused here though kubectl reads them (fail-closed, with what to write instead): tags other than
 * `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` and local ones on scalars, tags on collections,
 * keys that are floats (kubectl names them with float32 digits), collections as keys, and two keys
 * that kubectl would make one field from different values (`1` and `"1"`: its map keeps either).
 */
export function kubectlValue(doc: Document.Parsed, text: string): unknown {
  return new Converter(doc, text).value(doc.contents, '');
}

/** Why kubectl refuses a document (or why we do, where we do not convert as it does). */
export class KubectlRefusal extends Error {
  readonly path: string;
  /** Offset of the node in the file's text, when known. */
  readonly offset: number | undefined;

  constructor(message: string, path: string, offset: number | undefined) {
    super(message);
    this.path = path;
    this.offset = offset;
  }
}

/** Nodes that aliases may produce in one document: a few anchors are fine, a billion laughs is not. */
const MAX_ALIASED_NODES = 10_000;

const YAML_TAG = 'tag:yaml.org,2002:';
const SCALAR_TAGS = new Set(['int', 'float', 'bool', 'null']);

class Converter {
  private readonly doc: Document.Parsed;
  /** The text `doc` was parsed from: a double-quoted scalar's escapes are read in it. */
  private readonly text: string;
  /** Anchored nodes being converted: an alias to one of them would never end. */
  private readonly open = new Set<Node>();
  private aliased = 0;
  private inAlias = 0;

  constructor(doc: Document.Parsed, text: string) {
    this.doc = doc;
    this.text = text;
  }

  value(node: unknown, path: string): unknown {
    if (node === null || node === undefined) return null;
    if (this.inAlias > 0 && ++this.aliased > MAX_ALIASED_NODES)
      throw refusal(`aliases expand past ${MAX_ALIASED_NODES} nodes`, path, node);
    if (isAlias(node)) return this.through(node, path, (t) => this.value(t, path));
    if (isScalar(node)) return this.scalar(node, path);
    if (isMap(node)) {
      expectUntagged(node, 'map', path);
      const out: Record<string, unknown> = {};
      this.fill(node, out, new Map(), path);
      return out;
    }
    if (isSeq(node)) {
      expectUntagged(node, 'seq', path);
      return node.items.map((item, i) => this.value(item, `${path}[${i}]`));
    }
    throw refusal('a YAML node kubectl does not read', path, node);
  }

  /**
   * Converts what an alias names (`use`), refusing an alias to no anchor or to a node it is inside.
   * The messages never quote the alias's name: an unquoted Secret value that starts with `*` (a
   * hand-written vault token may) is read as an alias, and its name is then the secret itself,
   * which serve's log and policy-check printed whole (tenth round). The field and line say where.
   */
  private through<T>(alias: Alias, path: string, use: (target: Node) => T): T {
    const target = alias.resolve(this.doc);
    if (!target)
      throw refusal(
        'an alias (a value starting with *) names no anchor before it: quote a value that starts with *',
        path,
        alias,
      );
    if (this.open.has(target)) throw refusal('an alias (*) is inside the node it names', path, alias);
    this.open.add(target);
    this.inAlias++;
    try {
      return use(target);
    } finally {
      this.inAlias--;
      this.open.delete(target);
    }
  }

  /**
   * A mapping's entries into `out`, in order, as go-yaml v2 decodes them into one map: a merge
   * writes its entries over what is there, a later key over a merged one. `ids`: what go-yaml v2
   * held each field name as, across merges; a name met twice in this mapping's own keys is refused.
   */
  private fill(map: YAMLMap, out: Record<string, unknown>, ids: Map<string, string>, path: string): void {
    const own = new Set<string>();
    for (const { key, value } of map.items) {
      if (isMergeKey(key)) {
        this.merge(value, out, ids, path);
        continue;
      }
      const { name, id } = this.keyName(key, path);
      const field = path === '' ? name : `${path}.${name}`;
      const held = ids.get(name);
      if (held !== undefined && held !== id)
        throw refusal(`two keys name the field "${name}" (kubectl keeps either): write it once`, field, key);
      if (own.has(name)) throw refusal(`the key "${name}" is written twice: write it once`, field, key);
      own.add(name);
      ids.set(name, id);
      setField(out, name, this.value(value, field));
    }
  }

  /** `<<: value`: a mapping, an alias to one, or a sequence of those (the first one wins). */
  private merge(value: unknown, out: Record<string, unknown>, ids: Map<string, string>, path: string): void {
    const sources = isSeq(value) ? [...value.items].reverse() : [value];
    for (const source of sources) {
      const mapping = (node: unknown): void => {
        if (!isMap(node))
          throw refusal('a merge (<<) needs a mapping or a sequence of mappings', path, value);
        expectUntagged(node, 'map', path);
        this.fill(node, out, ids, path);
      };
      if (isAlias(source)) this.through(source, path, mapping);
      else mapping(source);
    }
  }

  private keyName(key: unknown, path: string): { name: string; id: string } {
    if (isAlias(key)) return this.through(key, path, (t) => this.keyName(t, path));
    if (!isScalar(key)) throw refusal(key ? 'a key that is a collection' : 'a null key', path, key);
    const text = String(key.value);
    if (key.tag === undefined && key.type === 'PLAIN') {
      const named = plainKeyName(text);
      if ('error' in named) throw refusal(named.error, path, key);
      return named;
    }
    const value = this.scalar(key, path);
    if (typeof value !== 'string') throw refusal(`the tagged key ${text}: write it without a tag`, path, key);
    return { name: value, id: `s${value}` };
  }

  private scalar(node: Scalar, path: string): unknown {
    if (node.type === 'QUOTE_DOUBLE' && node.range) {
      const problem = kubectlEscapeProblem(this.text.slice(node.range[0], node.range[1]));
      if (problem) throw new KubectlRefusal(problem.message, path, node.range[0] + problem.at);
    }
    return scalarValue(node, path);
  }
}

function scalarValue(node: Scalar, path: string): unknown {
  const text = String(node.value);
  const tag = node.tag;
  // No tag: a quoted or block scalar is a string; `!`, `!!str` and local tags (`!x`) keep the text too.
  if (
    tag === undefined
      ? node.type !== 'PLAIN'
      : tag === '!' || !tag.startsWith(YAML_TAG) || tag === `${YAML_TAG}str`
  )
    return text;
  const typed = resolveTyped(text);
  if (tag === undefined) return jsonValue(typed, text, path, node);
  const want = tag.slice(YAML_TAG.length);
  if (!SCALAR_TAGS.has(want))
    throw refusal(`${tagName(tag)} is not read here: write the value without it`, path, node);
  const got = typeName(typed);
  // go-yaml v2 reads an explicitly tagged scalar as a plain one, and an integer as !!float too.
  if (got !== want && !(want === 'float' && got === 'int'))
    throw refusal(`cannot read the value as !!${want} (it is !!${got})`, path, node);
  return jsonValue(typed, text, path, node);
}

function jsonValue(typed: Typed, text: string, path: string, node: Node): unknown {
  if (typeof typed === 'bigint') return Number(typed);
  if (typeof typed === 'number' && !Number.isFinite(typed))
    throw refusal(
      `${text} is not a number JSON can carry, and kubectl refuses the document: quote it for a string`,
      path,
      node,
    );
  return typed;
}

function typeName(typed: Typed): string {
  if (typed === null) return 'null';
  if (typeof typed === 'bigint') return 'int';
  if (typeof typed === 'number') return 'float';
  return typeof typed === 'boolean' ? 'bool' : 'str';
}

function isMergeKey(key: unknown): boolean {
  return (
    isScalar(key) &&
    key.value === '<<' &&
    (key.tag === `${YAML_TAG}merge` || (key.tag === undefined && key.type === 'PLAIN'))
  );
}

function expectUntagged(node: Node, kind: 'map' | 'seq', path: string): void {
  if (node.tag !== undefined && node.tag !== `${YAML_TAG}${kind}`)
    throw refusal(`${tagName(node.tag)} is not read here: write the value without it`, path, node);
}

/**
 * A tag, as a message names it: only YAML's own types by name. Another is the file's text after
 * `!`, and an unquoted Secret value that starts with `!` is such a tag: never quoted (the value
 * would be printed in serve's log and policy-check's output).
 */
function tagName(tag: string): string {
  const type = tag.startsWith(YAML_TAG) ? tag.slice(YAML_TAG.length) : undefined;
  return type !== undefined && YAML_TYPES.has(type) ? `the tag !!${type}` : 'a tag (a value starting with !)';
}

const YAML_TYPES = new Set([
  ...['str', 'int', 'float', 'bool', 'null', 'binary', 'timestamp', 'merge', 'value', 'yaml'],
  ...['map', 'seq', 'set', 'omap', 'pairs'],
]);

/** A JSON object's field; `__proto__` too is an ordinary field, as JSON.parse makes it. */
function setField(out: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__')
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

function refusal(message: string, path: string, node: unknown): KubectlRefusal {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return new KubectlRefusal(message, path, range?.[0]);
}
