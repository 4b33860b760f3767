import { parseXml, select } from './xml';

describe('the test XML parser', () => {
  it('reads elements, attributes, text and entities', () => {
    const doc = parseXml('<?xml version="1.0"?>\n<svg a="1 &amp; 2"><!-- c --><g class="x y"><text>&#60;b&#62; &lt;&gt;</text></g><line b=\'2\'/></svg>\n');
    expect(doc.attrs.a).toBe('1 & 2');
    expect(select(doc, 'g', 'y')[0].children[0].text).toBe('<b> <>');
    expect(select(doc, 'line')[0].attrs.b).toBe('2');
  });

  it.each([
    ['<a><b></a></b>'],
    ['<a x=1/>'],
    ['<a x="1" x="2"/>'],
    ['<a>&</a>'],
    ['<a>1 < 2</a>'],
    ['<a>&nbsp;</a>'],
    ['<a x="<"/>'],
    ['<a/><b/>'],
    ['<a>'],
    ['text<a/>'],
    ['<a x="1"y="2"/>'],
  ])('rejects %p', (xml) => {
    expect(() => parseXml(xml)).toThrow(SyntaxError);
  });
});
