import { describe, expect, it } from 'vitest';
import { parseXml, type XmlElement, XmlError } from './twiml-xml.ts';

/** The text of an element's direct character data. */
function text(e: XmlElement): string {
  return e.children.filter((c): c is string => typeof c === 'string').join('');
}

function child(e: XmlElement, i = 0): XmlElement {
  const elements = e.children.filter((c): c is XmlElement => typeof c !== 'string');
  return elements[i]!;
}

describe('parseXml: what it reads', () => {
  it('reads elements, attributes in order and text', () => {
    const root = parseXml(
      `<Response><Dial timeLimit="30" action='/a'><Number>+1415</Number></Dial></Response>`,
    );
    expect(root.name).toBe('Response');
    const dial = child(root);
    expect(dial.attributes).toEqual([
      ['timeLimit', '30'],
      ['action', '/a'],
    ]);
    expect(text(child(dial))).toBe('+1415');
  });

  it.each([
    ['&lt;&gt;&amp;&quot;&apos;', `<>&"'`],
    ['&#43;44', '+44'],
    ['&#x2B;44', '+44'],
    ['&#X2b;', undefined],
    ['&#x1F600;', '😀'],
  ])('resolves the references in %s', (raw, expected) => {
    if (expected === undefined) {
      expect(() => parseXml(`<a>${raw}</a>`)).toThrow(XmlError);
    } else {
      expect(text(parseXml(`<a>${raw}</a>`))).toBe(expected);
    }
  });

  it('reads references in attribute values and turns literal white space into spaces', () => {
    const root = parseXml('<a b="x&amp;y&#10;z\tq"/>');
    expect(root.attributes).toEqual([['b', 'x&y\nz q']]);
  });

  it('reads CDATA as text, merged with the character data around it', () => {
    expect(text(parseXml('<a>+44<![CDATA[79<11>]]>123</a>'))).toBe('+4479<11>123');
  });

  it('skips comments, and reads the text around them as one run', () => {
    const root = parseXml('<!-- lead --><a>+44<!-- hidden <b>x</b> -->7911</a><!-- trail -->');
    expect(root.children).toEqual(['+447911']);
  });

  it('accepts a leading XML declaration and white space around the root', () => {
    expect(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<Response/>\n').name).toBe('Response');
  });

  it('reads self-closing elements and nesting', () => {
    const root = parseXml('<a><b/><c><d/></c></a>');
    expect(child(root).name).toBe('b');
    expect(child(child(root, 1)).name).toBe('d');
  });

  it('reads 5000 levels of nesting without recursion', () => {
    const depth = 5000;
    const root = parseXml(`${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}`);
    let e = root;
    for (let i = 1; i < depth; i++) e = child(e);
    expect(text(e)).toBe('x');
  });

  it('keeps names with a prefix or a hyphen (SSML)', () => {
    expect(
      child(parseXml('<Say><amazon:effect name="w"><say-as>1</say-as></amazon:effect></Say>')).name,
    ).toBe('amazon:effect');
  });
});

describe('parseXml: what it refuses', () => {
  it.each([
    ['a DOCTYPE', '<!DOCTYPE Response><Response/>'],
    ['an internal entity definition', '<!DOCTYPE r [<!ENTITY n "+44">]><r>&n;</r>'],
    ['an ENTITY declaration inside the document', '<r><!ENTITY n "x"></r>'],
    ['a processing instruction', '<?php echo 1 ?><r/>'],
    ['a processing instruction inside the root', '<r><?pi x?></r>'],
    ['an XML declaration that is not first', ' <?xml version="1.0"?><r/>'],
    ['a stylesheet PI posing as a declaration', '<?xml-stylesheet href="x"?><r/>'],
    ['an unknown entity', '<r>&nbsp;</r>'],
    ['a bare ampersand', '<r>a & b</r>'],
    ['a reference to NUL', '<r>&#0;</r>'],
    ['a reference to a surrogate', '<r>&#xD800;</r>'],
    ['a reference past U+10FFFF', '<r>&#x110000;</r>'],
    ['a control character', '<r>\u0001</r>'],
    ['a lone surrogate', '<r>\ud800</r>'],
    ['an unclosed element', '<Response><Dial>+44</Response>'],
    ['a mismatched end tag', '<a><b></a></b>'],
    ['an end tag without start', '</a>'],
    ['a second root', '<a/><b/>'],
    ['text outside the root', '<a/>x'],
    // Fifth round: String.trim took it for white space; XML's is spaces, tabs, CR and LF only.
    ['a no-break space outside the root', '\u00a0<a/>'],
    ['no root', '   '],
    ['an empty string', ''],
    ['an unquoted attribute', '<a b=c/>'],
    ['an attribute without a value', '<a b/>'],
    ['attributes run together', '<a b="1"c="2"/>'],
    ['a duplicate attribute', '<a b="1" b="2"/>'],
    ['an attribute in two spellings', '<Dial action="x" Action="y"/>'],
    ['"<" in an attribute value', '<a b="<"/>'],
    ['"]]>" in character data', '<a>]]></a>'],
    ['"--" inside a comment', '<a><!-- a -- b --></a>'],
    ['a comment ending in "--->"', '<a><!-- a ---></a>'],
    ['an unterminated comment', '<a><!-- x</a>'],
    ['an unterminated CDATA section', '<a><![CDATA[x</a>'],
    ['CDATA outside the root', '<![CDATA[x]]><a/>'],
    ['a non-ASCII element name', '<Réponse/>'],
    ['a name starting with a digit', '<1a/>'],
    ['an unterminated start tag', '<a b="1"'],
  ])('refuses %s', (_name, xml) => {
    expect(() => parseXml(xml)).toThrow(XmlError);
  });

  it('names the position, never the content', () => {
    try {
      parseXml('<Response><Dial>+447911123456</Response>');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/at character \d+$/);
      expect((err as Error).message).not.toContain('447911');
    }
  });
});
