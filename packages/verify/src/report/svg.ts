/**
 * The few SVG helpers the report's charts need. Charts are SVG markup written
 * here rather than drawn by a charting library: vega and plotly need a canvas
 * or a DOM (jsdom) to lay out text on a server, which would be heavier than
 * the charts themselves; SVG text is drawn by the viewer with its own fonts,
 * so labels are sharp at any size and copyable.
 */

/** Escapes text for HTML or XML element content and quoted attribute values (numeric references are valid in both). */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"'`]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Fonts of every chart; the width estimate below is an upper bound for these. */
export const CHART_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, Helvetica, sans-serif";

/**
 * Advance widths in em, rounded up over DejaVu Sans, Verdana, Arial and
 * Helvetica (DejaVu Sans is the widest of them for most glyphs).
 */
function charWidthEm(ch: string): number {
  if (ch === ' ' || /[.,:;'|!ilI`]/.test(ch)) return 0.36;
  if (/[fjrt()[\]{}\-/\\"]/.test(ch)) return 0.48;
  if (/[mwMW@%]/.test(ch)) return 1.0;
  if (/[0-9]/.test(ch)) return 0.66;
  if (/[A-Z#&]/.test(ch)) return 0.8;
  if (/[a-z_+=<>*?$^~]/.test(ch)) return 0.66;
  return 1.0; // anything else (accents, Greek, CJK): a full em
}

/** Estimated width of `text` in the chart font at `fontSize` px (bold adds 10%); an upper bound, so text placed by it does not overflow. */
export function estimateTextWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) em += charWidthEm(ch);
  return em * fontSize * (bold ? 1.1 : 1);
}

/** Smallest font size a fitted title shrinks to before it is shortened. */
export const MIN_TITLE_FONT_SIZE = 11;

/**
 * `text` at the largest font size up to `fontSize` whose estimated width fits
 * `maxWidth`; below MIN_TITLE_FONT_SIZE it is shortened with an ellipsis in the
 * middle (the start and the end, a file name's extension, stay readable).
 */
export function fitText(text: string, maxWidth: number, fontSize: number, bold = false): { text: string; fontSize: number } {
  const width = estimateTextWidth(text, fontSize, bold);
  if (width <= maxWidth) return { text, fontSize };
  const shrunk = Math.floor(((fontSize * maxWidth) / width) * 10) / 10;
  if (shrunk >= MIN_TITLE_FONT_SIZE) return { text, fontSize: shrunk };
  const chars = [...text];
  for (let keep = chars.length - 1; keep > 0; keep--) {
    const head = Math.ceil(keep / 2);
    const short = `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (keep - head)).join('')}`;
    if (estimateTextWidth(short, MIN_TITLE_FONT_SIZE, bold) <= maxWidth) return { text: short, fontSize: MIN_TITLE_FONT_SIZE };
  }
  return { text: '…', fontSize: MIN_TITLE_FONT_SIZE };
}

/** A number for an SVG attribute: two decimals, no trailing zeros. */
export function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

type AttrValue = string | number | undefined;

/** One SVG element; attribute values and text are escaped, `children` is markup. */
export function el(tag: string, attrs: Readonly<Record<string, AttrValue>>, children: readonly string[] | string = []): string {
  const a = Object.entries(attrs)
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeHtml(v)}"`)
    .join('');
  const body = typeof children === 'string' ? children : children.join('');
  return body === '' ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

/** A text element; `text` is escaped. */
export function text(x: number, y: number, content: string, attrs: Readonly<Record<string, AttrValue>> = {}): string {
  return el('text', { x, y, ...attrs }, escapeHtml(content));
}

/**
 * A standalone SVG document: the size in px, a viewBox of the same size (so an
 * <img> scales it), a white background (dark-mode viewers), and `title` for
 * screen readers and tooltips.
 */
export function svgDocument(width: number, height: number, title: string, body: readonly string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" ` +
    `font-family="${escapeHtml(CHART_FONT)}" font-size="12" fill="#222">\n` +
    `${el('title', {}, escapeHtml(title))}\n${el('rect', { width: '100%', height: '100%', fill: '#fff' })}\n${body.join('\n')}\n</svg>\n`
  );
}
