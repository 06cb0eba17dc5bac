/**
 * Streaming Markdown through JupyterLab's rendermime ('text/markdown'), so answers look like
 * notebook Markdown cells and inherit its sanitizer: server text never reaches innerHTML any
 * other way. Deltas arrive faster than a render takes, so `set()` only records the latest text
 * and renders at most once per animation frame; renders never overlap.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
type Renderer = ReturnType<IRenderMimeRegistry['createRenderer']>;

export interface IMarkdownOptions {
  rendermime: IRenderMimeRegistry | null;
  /** Offered on every code block as "Insert as cell". */
  onInsertCode?: (code: string) => void;
}

export class StreamingMarkdown {
  constructor(readonly host: HTMLElement, private _options: IMarkdownOptions) {}

  /** The text as last set (what the server sent, concatenated). */
  get text(): string {
    return this._text;
  }

  /** Replace the whole text; renders on the next animation frame. */
  set(text: string): void {
    if (text === this._text) {
      return;
    }
    this._text = text;
    this._schedule();
  }

  append(delta: string): void {
    this.set(this._text + delta);
  }

  /** Resolves once what was last set is on screen. */
  async flush(): Promise<void> {
    while (this._rendered !== this._text || this._busy) {
      await (this._busy ?? this._renderNow());
    }
  }

  dispose(): void {
    if (this._frame !== null) {
      cancelAnimationFrame(this._frame);
      this._frame = null;
    }
    this._renderer?.dispose?.();
    this._renderer = null;
    this._disposed = true;
  }

  private _schedule(): void {
    if (this._frame !== null || this._busy) {
      return; // the running render schedules the next one when it ends
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      void this._renderNow();
    });
  }

  private _renderNow(): Promise<void> {
    if (this._busy) {
      return this._busy;
    }
    const text = this._text;
    this._busy = this._render(text)
      .catch(err => {
        // A renderer failure must not lose the answer: show it as plain text.
        console.warn('Penny: Markdown render failed', err);
        this.host.textContent = text;
      })
      .finally(() => {
        this._rendered = text;
        this._busy = null;
        if (!this._disposed && this._text !== this._rendered) {
          this._schedule();
        }
      });
    return this._busy;
  }

  private async _render(text: string): Promise<void> {
    const rendermime = this._options.rendermime;
    if (!rendermime) {
      this.host.textContent = text;
      return;
    }
    if (!this._renderer) {
      this._renderer = rendermime.createRenderer('text/markdown');
      this._renderer.addClass('penny-markdown');
      this.host.replaceChildren(this._renderer.node);
    }
    // Untrusted: rendermime sanitizes the HTML that Markdown produces.
    const model = new MimeModel({
      data: { 'text/markdown': escapeDollars(withoutImages(text)) },
      trusted: false
    });
    await this._renderer.renderModel(model);
    if (!this._disposed) {
      this._decorateCode(this._renderer.node);
    }
  }

  /** Copy and "Insert as cell" on each code block (re-added after every render). */
  private _decorateCode(root: HTMLElement): void {
    for (const pre of Array.from(root.querySelectorAll('pre'))) {
      if (pre.parentElement?.classList.contains('penny-md-code')) {
        continue;
      }
      const wrap = document.createElement('div');
      wrap.className = 'penny-md-code';
      pre.replaceWith(wrap);
      const bar = document.createElement('div');
      bar.className = 'penny-md-code-actions';
      const copy = button('Copy', 'penny-md-copy', () => {
        Clipboard.copyToSystem(pre.textContent ?? '');
        copy.textContent = 'Copied';
        window.setTimeout(() => (copy.textContent = 'Copy'), 1200);
      });
      bar.append(copy);
      const insert = this._options.onInsertCode;
      if (insert) {
        bar.append(
          button('Insert as cell', 'penny-md-insert', () => insert(pre.textContent ?? ''))
        );
      }
      wrap.append(bar, pre);
    }
  }

  private _text = '';
  private _rendered = '';
  private _busy: Promise<void> | null = null;
  private _frame: number | null = null;
  private _renderer: Renderer | null = null;
  private _disposed = false;
}

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

/**
 * Answers are full of money ("$1.2M … $0.4M"), and JupyterLab's Markdown treats text between two
 * dollar signs as LaTeX. Escape them, except inside code, where a backslash would show.
 */
export function escapeDollars(text: string): string {
  return outsideCode(text, part => part.replace(/(?<!\\)\$/g, '\\$'));
}

/** `edit` applied to the Markdown outside code fences and inline code, which stay as written. */
function outsideCode(text: string, edit: (part: string) => string): string {
  return text
    .split(/(```[\s\S]*?(?:```|$)|`[^`\n]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : edit(part)))
    .join('');
}

/**
 * A model sometimes writes an image (`![dashboard](art_…)`, `<img src=…>`). An answer never loads one: the
 * address is made up (a 404), or, worse, one a prompt injection chose, with data in its query. The alt text
 * stays; code is left as written.
 */
export function withoutImages(text: string): string {
  return outsideCode(text, part =>
    part.replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<img\b[^>]*>/gi, '')
  );
}
