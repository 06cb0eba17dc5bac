/**
 * Penny outputs in notebooks: the mime renderer for `application/vnd.penny.artifact+json`
 * (penny_jupyter/artifacts/bundle.py). It draws the artifact live from the saved output alone — no kernel,
 * no saved widget state — so a notebook reopened later, or served by Voilà, shows its dashboards at once.
 *
 * Refresh, Download and Fullscreen use the Penny plugin's `window.PennyJupyter` (REST with the page's auth)
 * and appear only where it is loaded (not in Voilà). Refresh writes the new version's whole bundle into the output, so the
 * saved notebook and its exports (the text/html copy) move with it.
 *
 * Not `safe`: in an untrusted notebook JupyterLab shows the sanitized text/html copy instead.
 */
import { IRenderMime } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import type { IPennyGlobal } from './global';
import { IArtifact, IRenderedArtifact, renderArtifact } from './renderer';

export const MIME_TYPE = 'application/vnd.penny.artifact+json';

/** The Penny plugin, if this page has it (JupyterLab); it may activate after the first outputs render. */
function pennyGlobal(): IPennyGlobal | null {
  return (window as { PennyJupyter?: IPennyGlobal }).PennyJupyter ?? null;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class PennyOutput extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('penny-output');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const artifact = model.data[MIME_TYPE] as unknown as IArtifact;
    this._model = model;
    this._rendered?.dispose();
    const penny = pennyGlobal();
    if (!penny) {
      // The plugin activates after its settings load; an output opened first is drawn again with its actions.
      window.addEventListener('penny-jupyter-ready', this._onReady, { once: true });
    }
    const body = el('div', 'penny-output-body');
    // The bar holds actions only: where the Penny plugin is not loaded (Voilà) there is none.
    this.node.replaceChildren(...(penny && artifact.id ? [this._bar(artifact, model, penny)] : []), body);
    this._rendered = penny ? penny.renderArtifact(body, artifact) : renderArtifact(body, artifact);
    return Promise.resolve();
  }

  dispose(): void {
    window.removeEventListener('penny-jupyter-ready', this._onReady);
    this._rendered?.dispose();
    this._rendered = null;
    super.dispose();
  }

  /** Version and actions; the title is the view's own header, so it is not repeated here. */
  private _bar(artifact: IArtifact, model: IRenderMime.IMimeModel, penny: IPennyGlobal): HTMLElement {
    const bar = el('div', 'penny-output-bar');
    const status = el('span', 'penny-output-status');
    status.setAttribute('role', 'status');
    bar.append(el('span', 'penny-output-version', `v${artifact.version ?? 1}`), status);
    const say = (text: string) => {
      status.textContent = text;
    };
    const refresh = el('button', 'penny-output-button penny-output-refresh', 'Refresh');
    refresh.title = "Re-run on today's data (a new version)";
    refresh.onclick = async () => {
      refresh.disabled = true;
      say('Refreshing…');
      try {
        const fresh = await penny.api.refreshArtifact(artifact.id);
        const bundle = await penny.api.getBundle(fresh.id, fresh.version);
        await model.setData({ data: bundle as IRenderMime.IMimeModel['data'] });
        say('');
      } catch (err) {
        say(`Refresh failed: ${message(err)}`);
      } finally {
        refresh.disabled = false;
      }
    };
    const download = el('select', 'penny-output-download');
    download.title = 'Download';
    for (const [value, label] of [['', 'Download…'], ['csv', 'CSV'], ['json', 'JSON'], ['png', 'PNG']]) {
      const option = el('option', undefined, label);
      option.value = value;
      download.append(option);
    }
    download.onchange = async () => {
      const format = download.value as 'csv' | 'json' | 'png' | '';
      download.value = '';
      if (!format) {
        return;
      }
      try {
        await penny.api.download(artifact.id, format, this._rendered ?? undefined);
      } catch (err) {
        say(`Download failed: ${message(err)}`);
      }
    };
    const full = el('button', 'penny-output-button penny-output-fullscreen', 'Fullscreen');
    full.title = 'Open full size in a tab';
    full.onclick = () => penny.openFullscreen(artifact);
    bar.append(refresh, download, full);
    return bar;
  }

  private _onReady = (): void => {
    if (!this.isDisposed && this._model) {
      void this.renderModel(this._model);
    }
  };

  private _model: IRenderMime.IMimeModel | null = null;
  private _rendered: IRenderedArtifact | null = null;
}

const extension: IRenderMime.IExtension = {
  id: 'penny-jupyter:output',
  description: 'Draws Penny dashboards, charts and tables in notebook outputs.',
  rendererFactory: {
    safe: false,
    mimeTypes: [MIME_TYPE],
    createRenderer: () => new PennyOutput()
  },
  // Ahead of text/html (50): where this renderer is loaded, the live view wins over the static copy.
  rank: 20,
  dataType: 'json'
};

export default extension;
