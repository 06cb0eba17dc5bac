/** Documents: markdown through JupyterLab's rendermime ('text/markdown', untrusted, so sanitized), else <pre>. */

import { MimeModel } from '@jupyterlab/rendermime';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { el, str } from './dom';
import type { IWidgetContext, IWidgetView } from './types';

/** Render markdown into `host` with rendermime when there is one; the promise settles once drawn. */
export async function renderMarkdownInto(host: HTMLElement, markdown: string, rendermime?: IRenderMimeRegistry): Promise<void> {
  if (rendermime && rendermime.preferredMimeType({ 'text/markdown': markdown }, 'any') === 'text/markdown') {
    try {
      const renderer = rendermime.createRenderer('text/markdown');
      await renderer.renderModel(new MimeModel({ data: { 'text/markdown': markdown }, trusted: false }));
      host.replaceChildren(renderer.node);
      return;
    } catch (err) {
      console.warn('Penny: markdown rendering failed, showing the source', err);
    }
  }
  host.replaceChildren(el('pre', { className: 'penny-pre', text: markdown }));
}

export function renderDocument(spec: any, ctx: IWidgetContext): IWidgetView {
  const markdown = str(spec?.markdown) || str(spec?.text) || str(spec?.content) || (typeof spec === 'string' ? spec : '');
  const body = el('div', 'penny-document-body');
  const node = el('div', { className: 'penny-document' }, body);
  if (ctx.compact) {
    node.classList.add('penny-compact-clip');
  }
  return { node, painted: renderMarkdownInto(body, markdown, ctx.rendermime) };
}
