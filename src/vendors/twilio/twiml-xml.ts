/**
 * The XML subset TwiML is written in, read strictly (ADR 0007 §7): elements, attributes, text, the
 * five predefined entities and numeric character references, CDATA sections and comments. A leading
 * `<?xml …?>` declaration is the only processing instruction; DOCTYPE (so any entity definition) is
 * refused, as is anything that is not well-formed: Keybrake must read a document exactly as Twilio
 * would, or not at all. Iterative, so nesting depth costs no stack; the caller bounds the length.
 * Pure: used by twiml.ts in the price stage.
 */

/** One element of a parsed document: its name, attributes in document order, and children. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: readonly (readonly [name: string, value: string])[];
  /** Elements and text (character data and CDATA, entities resolved), in document order. */
  readonly children: readonly (XmlElement | string)[];
}

/** Why a document is not read: the message names the position and the problem, never the content. */
export class XmlError extends Error {
  override readonly name = 'XmlError';
}

interface OpenElement {
  readonly name: string;
  readonly attributes: (readonly [string, string])[];
  readonly children: (XmlElement | string)[];
}

// ASCII names only: every TwiML verb, noun and attribute, and the SSML ones (`amazon:effect`, `say-as`).
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_.:-]/;
const WHITESPACE = /[ \t\r\n]/;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Parses one document into its root element; throws XmlError for anything outside the subset. */
export function parseXml(text: string): XmlElement {
  checkCharacters(text);
  let pos = 0;
  const fail = (what: string): never => {
    throw new XmlError(`${what} at character ${pos + 1}`);
  };

  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    const declaration = text.slice(5, end);
    if (
      !/^(?:[ \t\r\n]+[A-Za-z]+[ \t\r\n]*=[ \t\r\n]*(?:"[^"<&]*"|'[^'<&]*'))*[ \t\r\n]*$/.test(declaration)
    ) {
      fail('malformed XML declaration');
    }
    pos = end + 2;
  }

  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;

  const readName = (): string => {
    const start = pos;
    if (!NAME_START.test(text[pos] ?? '')) fail('expected a name');
    pos++;
    while (pos < text.length && NAME_CHAR.test(text[pos]!)) pos++;
    return text.slice(start, pos);
  };
  const skipWhitespace = (): number => {
    const start = pos;
    while (pos < text.length && WHITESPACE.test(text[pos]!)) pos++;
    return pos - start;
  };
  /** Character data up to `stop` with its references resolved. */
  const resolve = (raw: string, at: number): string => {
    let out = '';
    let i = 0;
    while (i < raw.length) {
      const amp = raw.indexOf('&', i);
      if (amp < 0) {
        out += raw.slice(i);
        break;
      }
      out += raw.slice(i, amp);
      const semi = raw.indexOf(';', amp);
      if (semi < 0 || semi - amp > 12) {
        pos = at + amp;
        fail('"&" that starts no reference');
      }
      out += reference(raw.slice(amp + 1, semi), () => {
        pos = at + amp;
        return fail('unknown or invalid reference');
      });
      i = semi + 1;
    }
    return out;
  };
  const addChild = (child: XmlElement | string): void => {
    const parent = stack[stack.length - 1];
    if (parent) {
      parent.children.push(child);
    } else if (typeof child === 'string') {
      if (xmlTrimmed(child) !== '') fail('text outside the root element');
    } else if (root) {
      fail('a second root element');
    } else {
      root = child;
    }
  };

  while (pos < text.length) {
    if (text[pos] !== '<') {
      const next = text.indexOf('<', pos);
      const end = next < 0 ? text.length : next;
      const raw = text.slice(pos, end);
      if (raw.includes(']]>')) fail('"]]>" in character data');
      const value = resolve(raw, pos);
      pos = end;
      addChild(value);
      continue;
    }
    if (text.startsWith('<!--', pos)) {
      const end = text.indexOf('-->', pos + 4);
      if (end < 0) fail('unterminated comment');
      if (text.slice(pos + 4, end).includes('--') || text[end - 1] === '-') fail('"--" inside a comment');
      pos = end + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', pos)) {
      if (stack.length === 0) fail('CDATA outside the root element');
      const end = text.indexOf(']]>', pos + 9);
      if (end < 0) fail('unterminated CDATA section');
      addChild(text.slice(pos + 9, end));
      pos = end + 3;
      continue;
    }
    if (text.startsWith('<!', pos)) fail('DOCTYPE or other declaration (not allowed)');
    if (text.startsWith('<?', pos)) fail('processing instruction (not allowed)');
    if (text.startsWith('</', pos)) {
      pos += 2;
      const name = readName();
      skipWhitespace();
      if (text[pos] !== '>') fail('malformed end tag');
      const open = stack.pop();
      if (!open) fail(`end tag </${name}> without a start tag`);
      if (open!.name !== name) fail(`end tag </${name}> does not close <${open!.name}>`);
      pos++;
      addChild(freeze(open!));
      continue;
    }
    pos++;
    if (root && stack.length === 0) fail('a second root element');
    const element: OpenElement = { name: readName(), attributes: [], children: [] };
    for (;;) {
      const spaced = skipWhitespace();
      if (text.startsWith('/>', pos)) {
        pos += 2;
        addChild(freeze(element));
        break;
      }
      if (text[pos] === '>') {
        pos++;
        stack.push(element);
        break;
      }
      if (pos >= text.length) fail('unterminated start tag');
      if (spaced === 0) fail('attributes must be separated by whitespace');
      const name = readName();
      skipWhitespace();
      if (text[pos] !== '=') fail(`attribute ${name} without a value`);
      pos++;
      skipWhitespace();
      const quote = text[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute ${name} value must be quoted`);
      const end = text.indexOf(quote!, pos + 1);
      if (end < 0) fail(`unterminated value of attribute ${name}`);
      const raw = text.slice(pos + 1, end);
      if (raw.includes('<')) fail(`"<" in the value of attribute ${name}`);
      // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space, a
      // character reference to it stays what it names.
      const value = resolve(raw.replace(/[\t\r\n]/g, ' '), pos + 1);
      // Twilio's reading of a name given twice, or in two spellings, is unknown: refuse both.
      const folded = name.toLowerCase();
      if (element.attributes.some(([n]) => n.toLowerCase() === folded)) fail(`attribute ${name} given twice`);
      element.attributes.push([name, value]);
      pos = end + 1;
    }
  }
  if (stack.length > 0) throw new XmlError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

function freeze(open: OpenElement): XmlElement {
  return { name: open.name, attributes: open.attributes, children: mergeText(open.children) };
}

/** Adjacent text (character data around a comment, CDATA) reads as one run, as an XML reader sees it. */
function mergeText(children: readonly (XmlElement | string)[]): (XmlElement | string)[] {
  const out: (XmlElement | string)[] = [];
  for (const child of children) {
    const last = out[out.length - 1];
    if (typeof child === 'string' && typeof last === 'string') out[out.length - 1] = last + child;
    else out.push(child);
  }
  return out;
}

/** `lt`, `#43`, `#x2B` → the character; anything else is not in the subset. */
function reference(name: string, invalid: () => never): string {
  if (Object.hasOwn(PREDEFINED, name)) return PREDEFINED[name]!;
  const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(name);
  if (!numeric) return invalid();
  const code = numeric[1] !== undefined ? Number.parseInt(numeric[1], 16) : Number(numeric[2]);
  if (!isXmlChar(code)) return invalid();
  return String.fromCodePoint(code);
}

/** XML 1.0 Char: tab, LF, CR, and U+0020 upwards without surrogates, U+FFFE and U+FFFF. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/** Refuses characters XML does not allow anywhere (controls, lone surrogates, U+FFFE/U+FFFF). */
function checkCharacters(text: string): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.codePointAt(i)!;
    if (code > 0xffff) {
      i++;
      continue;
    }
    if (!isXmlChar(code)) throw new XmlError(`character not allowed in XML at character ${i + 1}`);
  }
}

/** XML's white space (the S production) around a text: layout, not part of what it says. */
const XML_SPACE_AROUND = /^[ \t\r\n]+|[ \t\r\n]+$/g;

/**
 * A text or attribute value without XML's white space around it: spaces, tabs, CR and LF only. Not
 * `String.trim`, which drops U+00A0, U+FEFF and other Unicode spaces that an XML reader keeps.
 */
export function xmlTrimmed(text: string): string {
  return text.replace(XML_SPACE_AROUND, '');
}
