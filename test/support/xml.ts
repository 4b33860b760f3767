/**
 * A strict little XML parser for tests of generated markup (the report's SVG):
 * it throws on anything not well-formed (XML 1.0 section 2: one root element,
 * matched tags, quoted and unique attributes, '<' and '&' only as markup or
 * entity references), and returns the element tree. No DTDs, CDATA or
 * namespaces-aware processing: the report writes none.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside this element, entities decoded. */
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  if (raw.includes('<')) throw new SyntaxError(`raw '<' in text or attribute near offset ${where}`);
  return raw.replace(/&([^;\s&]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new SyntaxError(`'&' not starting an entity reference near offset ${where}: ${JSON.stringify(m)}`);
    if (/^#[0-9]+$/.test(body)) return String.fromCodePoint(Number(body.slice(1)));
    if (/^#x[0-9a-fA-F]+$/.test(body)) return String.fromCodePoint(parseInt(body.slice(2), 16));
    if (body in ENTITIES) return ENTITIES[body];
    throw new SyntaxError(`unknown entity &${body}; near offset ${where}`);
  });
}

/** Parses `xml` (one root element, optionally after an XML declaration and comments); throws SyntaxError when not well-formed. */
export function parseXml(xml: string): XmlElement {
  let at = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(at))![0].length;
      at += ws;
      const close = xml.startsWith('<?', at) ? '?>' : xml.startsWith('<!--', at) ? '-->' : null;
      if (!close) return;
      const end = xml.indexOf(close, at);
      if (end < 0) throw new SyntaxError(`unterminated declaration or comment at offset ${at}`);
      at = end + close.length;
    }
  };
  skipMisc();
  while (at < xml.length) {
    if (stack.length === 0 && root) {
      skipMisc();
      if (at < xml.length) throw new SyntaxError(`content after the root element at offset ${at}`);
      break;
    }
    if (xml.startsWith('<!--', at)) {
      const end = xml.indexOf('-->', at);
      if (end < 0) throw new SyntaxError(`unterminated comment at offset ${at}`);
      at = end + 3;
    } else if (xml.startsWith('</', at)) {
      const m = /^<\/([^\s>]+)\s*>/.exec(xml.slice(at));
      const open = stack.pop();
      if (!m || !open || m[1] !== open.name) throw new SyntaxError(`closing tag ${m?.[1] ?? '?'} does not match ${open?.name ?? 'nothing'} at offset ${at}`);
      at += m[0].length;
    } else if (xml[at] === '<') {
      const name = NAME.exec(xml.slice(at + 1));
      if (!name) throw new SyntaxError(`bad tag name at offset ${at}`);
      const el: XmlElement = { name: name[0], attrs: {}, children: [], text: '' };
      at += 1 + name[0].length;
      for (;;) {
        const ws = /^\s*/.exec(xml.slice(at))![0].length;
        at += ws;
        if (xml.startsWith('/>', at) || xml[at] === '>') break;
        if (ws === 0) throw new SyntaxError(`no space before an attribute at offset ${at}`);
        const attr = /^([A-Za-z_:][A-Za-z0-9_:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(xml.slice(at));
        if (!attr) throw new SyntaxError(`bad or unquoted attribute at offset ${at}: ${xml.slice(at, at + 30)}`);
        if (attr[1] in el.attrs) throw new SyntaxError(`duplicate attribute ${attr[1]} at offset ${at}`);
        el.attrs[attr[1]] = decode(attr[3] ?? attr[4], at);
        at += attr[0].length;
      }
      if (stack.length) stack[stack.length - 1].children.push(el);
      else if (root) throw new SyntaxError(`second root element at offset ${at}`);
      else root = el;
      if (xml.startsWith('/>', at)) at += 2;
      else {
        at += 1;
        stack.push(el);
      }
    } else {
      const end = xml.indexOf('<', at);
      const raw = xml.slice(at, end < 0 ? xml.length : end);
      if (stack.length === 0) throw new SyntaxError(`text outside the root element at offset ${at}`);
      stack[stack.length - 1].text += decode(raw, at);
      at += raw.length;
    }
  }
  if (!root || stack.length) throw new SyntaxError(`unclosed element ${stack[stack.length - 1]?.name ?? '(no root)'}`);
  return root;
}

/** Every element under (and including) `el`, depth first. */
export function descendants(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(descendants)];
}

/** Elements under `el` named `name` whose class list contains every class in `classes`. */
export function select(el: XmlElement, name: string, ...classes: string[]): XmlElement[] {
  return descendants(el).filter((e) => e.name === name && classes.every((c) => (e.attrs.class ?? '').split(/\s+/).includes(c)));
}
