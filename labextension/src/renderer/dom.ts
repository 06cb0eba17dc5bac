/**
 * Tiny DOM builder: every renderer builds nodes through `el`, so artifact data only ever reaches
 * the page as text nodes or as attributes set one by one (never as HTML).
 */

export type Child = Node | string | number | null | undefined | false;

export interface IElOptions {
  className?: string;
  text?: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
  title?: string;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: IElOptions | string = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const opts: IElOptions = typeof options === 'string' ? { className: options } : options;
  if (opts.className) {
    node.className = opts.className;
  }
  if (opts.text !== undefined) {
    node.textContent = opts.text;
  }
  if (opts.title) {
    node.title = opts.title;
  }
  setAttrs(node, opts.attrs);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | null | undefined> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node: Element, attrs?: Record<string, string | number | boolean | null | undefined>): void {
  if (!attrs) {
    return;
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) {
      continue;
    }
    node.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(node: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Resolve after the browser has had the chance to paint what was just added. */
export function nextFrame(): Promise<void> {
  return new Promise(resolve => {
    if (typeof requestAnimationFrame !== 'function' || document.hidden) {
      setTimeout(resolve, 0);
      return;
    }
    requestAnimationFrame(() => resolve());
  });
}

/** A plain string from a spec field (numbers are stringified; objects and null give the fallback). */
export function str(v: unknown, fallback = ''): string {
  if (typeof v === 'string') {
    return v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') {
    return String(v);
  }
  return fallback;
}

/** A CSS colour from data, or null: hex, rgb()/rgba()/hsl() of plain numbers, or a bare colour name. */
export function safeColor(v: unknown): string | null {
  if (typeof v !== 'string') {
    return null;
  }
  const c = v.trim();
  if (/^#[0-9a-fA-F]{3,8}$/.test(c) || /^[a-zA-Z]{3,20}$/.test(c) || /^(rgb|rgba|hsl|hsla)\([0-9.,%\s]+\)$/.test(c)) {
    return c;
  }
  return null;
}

/** A widget card: title bar + body, the common frame of every dashboard cell. */
export function card(kind: string, title: string | null, ...body: Child[]): HTMLElement {
  return el(
    'section',
    { className: `penny-card penny-card-${kind}`, attrs: title ? { 'aria-label': title } : {} },
    title ? el('h4', { className: 'penny-card-title', text: title }) : null,
    ...body
  );
}
