/**
 * Penny's artifact renderer: public API.
 *
 *   const view = renderArtifact(host, artifact, { compact, rendermime, onInsertCode });
 *   await view.painted;   // every widget drawn (plotly promises settled + one animation frame)
 *   const png = await view.toPNG();
 *   view.dispose();
 *
 * Types: dashboard (grid of metric/chart/gauge/table/timeline/grid widgets), chart (one plotly
 * figure: spec {figure, kind?, title?}), table (spec {columns?, rows}), document (spec {markdown}),
 * code (spec {code, language?}), image (spec {data, mime} or {url}).
 *
 * Performance marks: `penny:render:start:<id>` at mount, `penny:render:painted:<id>` when painted,
 * and the measure `penny:render:<id>` between them.
 *
 * toPNG(): a chart gives Plotly.toImage; a dashboard gives its first chart's image, or, without a
 * chart, a canvas card listing its metrics (label, value, change); a table a canvas card of its
 * first rows; an image its own pixels; a document or code a canvas card of its first lines.
 *
 * Styles: style/renderer.css, loaded with the extension's style module (style/index.css and
 * style/index.js import it), so it is not imported here (that would inject it twice).
 *
 * DOM hooks (stable, for tests): `.penny-artifact-view[data-type]` with `data-painted="true"`,
 * `.penny-metric` (`.penny-metric-value`, `.penny-metric-change[data-good]`, `.penny-sparkline`),
 * `.penny-chart` (plotly's `.js-plotly-plot` inside), `.penny-gauge`, `.penny-table` (`th button`),
 * `.penny-timeline`, `.penny-status-grid`, `.penny-document`, `.penny-code`, `.penny-image`.
 */

import { renderBody } from './bodies';
import { periodText } from './dashboard';
import { el, nextFrame, str } from './dom';
import { formatNumber } from './format';
import { textCardPNG } from './snapshot';
import type { IArtifact, IRenderOptions, IRenderedArtifact, IWidgetContext, IWidgetView } from './types';

export type { IArtifact, IRenderOptions, IRenderedArtifact } from './types';
export { loadPlotly } from './plotly';

function markName(kind: string, id: string): string {
  return `penny:render:${kind}:${id}`;
}

function snapshotLines(artifact: IArtifact, root: HTMLElement): string[][] {
  const spec = artifact.spec ?? {};
  if (artifact.type === 'dashboard') {
    return (Array.isArray(spec.widgets) ? spec.widgets : [])
      .filter((w: any) => w?.type === 'metric')
      .map((w: any) => [str(w.label) || str(w.name), str(w.formatted) || formatNumber(w.value, str(w.format)), str(w.formatted_change)]);
  }
  if (artifact.type === 'table') {
    const rows = Array.from(root.querySelectorAll('tr'));
    return rows.map(r => Array.from(r.children, c => (c.textContent ?? '').trim()));
  }
  const text = str(spec.markdown) || str(spec.text) || str(spec.code);
  return text.split('\n').slice(0, 30).map(l => [l]);
}

/** The view's root with its header (title, and a dashboard's period), not yet mounted. */
function viewRoot(type: string, id: string, title: string, spec: any, compact: boolean): HTMLElement {
  const root = el('div', {
    className: 'penny-artifact-view',
    attrs: { 'data-type': type, 'data-artifact-id': id, 'data-painted': 'false' }
  });
  if (compact) {
    root.classList.add('penny-compact');
  }
  const meta = type === 'dashboard' ? periodText(spec) : '';
  if (title) {
    root.appendChild(
      el('header', 'penny-view-header',
        el('h3', { className: 'penny-view-title', text: title }),
        meta ? el('div', { className: 'penny-view-meta', text: meta }) : null)
    );
  }
  return root;
}

/** Settles once every widget has drawn (a failed one only warns) and a frame has passed; then marks the root. */
function whenPainted(views: IWidgetView[], root: HTMLElement, id: string, disposed: () => boolean): Promise<void> {
  return Promise.all(views.map(v => (v.painted ?? Promise.resolve()).catch(err => console.warn('Penny: widget failed', err))))
    .then(() => nextFrame())
    .then(() => {
      if (disposed()) {
        return;
      }
      root.dataset.painted = 'true';
      performance.mark(markName('painted', id));
      try {
        performance.measure(`penny:render:${id}`, markName('start', id), markName('painted', id));
      } catch {
        // marks cleared by someone else: nothing to measure
      }
    });
}

function disposeViews(views: IWidgetView[]): void {
  for (const v of views) {
    try {
      v.dispose?.();
    } catch (err) {
      console.warn('Penny: dispose failed', err);
    }
  }
}

export function renderArtifact(host: HTMLElement, artifact: IArtifact, options: IRenderOptions = {}): IRenderedArtifact {
  const id = str(artifact?.id) || 'artifact';
  const type = str(artifact?.type) || 'unknown';
  const title = str(artifact?.title);
  const spec = artifact?.spec ?? {};
  performance.mark(markName('start', id));

  const ctx: IWidgetContext = { compact: !!options.compact, rendermime: options.rendermime, onInsertCode: options.onInsertCode };
  const root = viewRoot(type, id, title, spec, ctx.compact);
  const { nodes, views } = renderBody(type, id, spec, ctx, title);
  root.append(...nodes);
  host.appendChild(root);

  let disposed = false;
  const painted = whenPainted(views, root, id, () => disposed);
  return {
    painted,
    toPNG: async () => {
      await painted;
      // A widget's own image (a chart's, an image's) beats the text card.
      const own = views.find(v => v.toPNG);
      return own?.toPNG ? own.toPNG() : textCardPNG(root, title || type, snapshotLines(artifact, root));
    },
    dispose: () => {
      if (!disposed) {
        disposed = true;
        disposeViews(views);
        root.remove();
      }
    }
  };
}
