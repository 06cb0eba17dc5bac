/**
 * `window.PennyJupyter`: what the notebook outputs (the mime renderer in output.ts, and the kernel-side
 * anywidget in penny_jupyter/kernel/widget.js) use to draw, refresh and download artifacts with the same
 * renderer and the page's own auth, so the widget's ES module stays a few KB and never carries plotly or a token.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { PennyApi } from './api';
import { ExportFormat, exportArtifact, openFullscreen } from './cards';
import { NotebookInserter } from './insert';
import { IArtifact, IRenderOptions, IRenderedArtifact, renderArtifact } from './renderer';

/** Keep in step with package.json (the lib cannot import it: it sits outside rootDir). */
export const PENNY_VERSION = '0.1.0';

export interface IPennyGlobal {
  version: string;
  renderArtifact(host: HTMLElement, artifact: IArtifact, options?: IRenderOptions): IRenderedArtifact;
  api: {
    getArtifact(id: string, version?: number): Promise<IArtifact>;
    refreshArtifact(id: string): Promise<IArtifact>;
    getBundle(id: string, version?: number): Promise<Record<string, unknown>>;
    download(id: string, format: ExportFormat, rendered?: IRenderedArtifact): Promise<void>;
  };
  insertArtifact(id: string): Promise<void>;
  /** The artifact full size in a main-area tab (the sidebar's Fullscreen). */
  openFullscreen(artifact: IArtifact): void;
}

declare global {
  interface Window {
    PennyJupyter?: IPennyGlobal;
    jupyterapp?: JupyterFrontEnd;
  }
}

export function installGlobal(
  app: JupyterFrontEnd,
  api: PennyApi,
  rendermime: IRenderMimeRegistry | null,
  inserter: NotebookInserter
): IPennyGlobal {
  const penny: IPennyGlobal = {
    version: PENNY_VERSION,
    renderArtifact: (host, artifact, options) =>
      renderArtifact(host, artifact, { rendermime: rendermime ?? undefined, ...options }),
    api: {
      getArtifact: (id, version) => api.getArtifact(id, version),
      refreshArtifact: id => api.refreshArtifact(id),
      getBundle: (id, version) => api.getBundle(id, version),
      download: async (id, format, rendered) => {
        // CSV/JSON need only the id; PNG without a live render needs the artifact to draw one.
        const artifact =
          format === 'png' && !rendered
            ? await api.getArtifact(id)
            : ({ id, title: id } as IArtifact);
        await exportArtifact(api, artifact, format, { rendered, rendermime });
      }
    },
    insertArtifact: async id => {
      await inserter.insertArtifact(id);
    },
    openFullscreen: artifact => {
      openFullscreen(app, artifact, rendermime);
    }
  };
  window.PennyJupyter = penny;
  // Tests (and power users in the console) drive commands through it; never replace another's.
  if (!window.jupyterapp) {
    window.jupyterapp = app;
  }
  // The widget may have rendered before this plugin activated: tell it to look again.
  window.dispatchEvent(new CustomEvent('penny-jupyter-ready'));
  return penny;
}
