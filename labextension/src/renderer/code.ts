/**
 * Code: highlighted by rendermime (a fenced markdown block, which JupyterLab's markdown parser
 * highlights with the editor's language modes) or a plain <pre>; with Copy and "Insert as cell".
 */

import { el, str } from './dom';
import { renderMarkdownInto } from './document';
import type { IWidgetContext, IWidgetView } from './types';

/** A fence longer than any backtick run in the code, so the code can never close it. */
function fenced(code: string, language: string): string {
  const longest = Math.max(0, ...Array.from(code.matchAll(/`+/g), m => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language.replace(/[^\w+#.-]/g, '')}\n${code}\n${fence}`;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el('textarea', { attrs: { readonly: true } });
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

export function renderCode(spec: any, ctx: IWidgetContext): IWidgetView {
  const code = str(spec?.code) || str(spec?.source) || str(spec?.text);
  const language = str(spec?.language, 'python') || 'python';
  const copy = el('button', { className: 'penny-code-button penny-code-copy', text: 'Copy', attrs: { type: 'button' } });
  let timer = 0;
  copy.addEventListener('click', async () => {
    const ok = await copyText(code);
    copy.textContent = ok ? 'Copied' : 'Copy failed';
    clearTimeout(timer);
    timer = window.setTimeout(() => (copy.textContent = 'Copy'), 1500);
  });
  const insert = ctx.onInsertCode
    ? el('button', { className: 'penny-code-button penny-code-insert', text: 'Insert as cell', attrs: { type: 'button' } })
    : null;
  insert?.addEventListener('click', () => ctx.onInsertCode?.(code));

  const body = el('div', 'penny-code-body');
  const node = el(
    'div',
    { className: 'penny-code', attrs: { 'data-language': language } },
    el('div', 'penny-code-toolbar', el('span', { className: 'penny-code-language', text: language }), el('span', 'penny-spacer'), copy, insert),
    body
  );
  const painted = ctx.rendermime
    ? renderMarkdownInto(body, fenced(code, language), ctx.rendermime)
    : Promise.resolve(void body.appendChild(el('pre', { className: 'penny-pre' }, el('code', { text: code }))));
  return { node, painted, dispose: () => clearTimeout(timer) };
}
