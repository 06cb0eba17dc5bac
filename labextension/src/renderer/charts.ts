/** One plotly figure in a card: themed, sized to its container, resized when the container changes. */

import { card, el, str } from './dom';
import { ITheme, loadPlotly, onThemeChange, readTheme, themedLayout } from './plotly';
import type { IWidgetContext, IWidgetView } from './types';

export const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

export function chartHeight(ctx: IWidgetContext): number {
  return ctx.compact ? 200 : 280;
}

/** Deep copy a figure's data so plotly's bookkeeping (uids, _fullData) never touches the artifact. */
function cloneData(data: unknown): any[] {
  if (!Array.isArray(data)) {
    return [];
  }
  return typeof structuredClone === 'function' ? structuredClone(data) : JSON.parse(JSON.stringify(data));
}

/** Per-trace polish that reads better on a small card (the spec's figure stays untouched). */
function polishTraces(data: any[], t: ITheme): any[] {
  for (const tr of data) {
    if (tr.type === 'funnel') {
      tr.textfont = { color: t.font, ...(tr.textfont ?? {}) };
      tr.connector = { line: { color: t.grid }, ...(tr.connector ?? {}) };
    } else if (tr.type === 'pie') {
      tr.textfont = { color: t.font, ...(tr.textfont ?? {}) };
      tr.outsidetextfont = { color: t.font };
      tr.automargin = tr.automargin ?? true;
    }
  }
  return data;
}

const LONG_NAME = 12; // characters: longer category names than this do not fit under a bar
const MAX_BARS = 30;

/**
 * Bars over long category names (customers, products) turn horizontal: under vertical bars plotly rotates
 * such names and clips them. Months and short codes stay vertical; so does a figure that chose its own
 * orientation or mixes other traces.
 */
export function horizontalBars(data: any[], layout: any): any {
  const names = data.flatMap(t => (Array.isArray(t?.x) ? t.x : [null]));
  const bars =
    data.length > 0 &&
    data.every(t => t?.type === 'bar' && !t.orientation && Array.isArray(t.x) && Array.isArray(t.y));
  if (!bars || names.length > MAX_BARS || !names.every(n => typeof n === 'string')) {
    return layout;
  }
  if (Math.max(...names.map((n: string) => n.length)) <= LONG_NAME) {
    return layout;
  }
  const swap = (s: unknown) =>
    typeof s === 'string' ? s.replace(/%\{([xy])\}/g, (_m, a) => `%{${a === 'x' ? 'y' : 'x'}}`) : s;
  for (const t of data) {
    [t.x, t.y] = [t.y, t.x];
    t.orientation = 'h';
    t.hovertemplate = swap(t.hovertemplate);
    t.texttemplate = swap(t.texttemplate);
  }
  const out = { ...(layout ?? {}) };
  // the first category on top, as it reads in the table
  [out.xaxis, out.yaxis] = [{ ...(layout?.yaxis ?? {}) }, { ...(layout?.xaxis ?? {}), autorange: 'reversed' }];
  return out;
}

export function renderPlot(figure: any, title: string, ctx: IWidgetContext): IWidgetView {
  const plot = el('div', { className: 'penny-chart-plot', attrs: { role: 'img', 'aria-label': title || 'Chart' } });
  const height = chartHeight(ctx);
  plot.style.minHeight = `${height}px`;
  const node = card('chart', title || null, plot);
  node.classList.add('penny-chart');

  let disposed = false;
  let plotted = false;
  let observer: ResizeObserver | null = null;
  let lastWidth = 0;
  let frame = 0;
  let stopTheme = () => undefined as void;

  /** The figure as this theme draws it (fresh copies: plotly keeps what it is given). */
  const themed = (): [any[], any] => {
    const theme = readTheme(node);
    const data = polishTraces(cloneData(figure?.data), theme);
    return [data, themedLayout(horizontalBars(data, figure?.layout), theme, height, data)];
  };

  const painted = loadPlotly().then(async Plotly => {
    if (disposed) {
      return;
    }
    await Plotly.newPlot(plot, ...themed(), CONFIG);
    plotted = true;
    if (disposed) {
      Plotly.purge(plot);
      return;
    }
    // registered only for a chart still shown, so dispose() always disconnects it
    stopTheme = onThemeChange(() => {
      // after the theme's CSS variables apply
      requestAnimationFrame(() => {
        if (!disposed) {
          void Plotly.react(plot, ...themed(), CONFIG);
        }
      });
    });
    // The width plotly drew at, not the div's: a chart drawn before its tab was laid out (Fullscreen)
    // is drawn narrow, and the observer's first report must redraw it at the real width.
    lastWidth = Math.round((plot as any)._fullLayout?.width ?? 0);
    if (typeof ResizeObserver === 'function') {
      // plotly's `responsive` follows the window; a sidebar or cell resizes without one.
      observer = new ResizeObserver(entries => {
        const w = Math.round(entries[0]?.contentRect.width ?? 0);
        if (!w || w === lastWidth) {
          return;
        }
        lastWidth = w;
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => {
          if (!disposed) {
            void Plotly.Plots.resize(plot);
          }
        });
      });
      observer.observe(plot);
    }
  });

  return {
    node,
    painted,
    toPNG: async () => {
      const Plotly = await loadPlotly();
      await painted;
      return Plotly.toImage(plot, {
        format: 'png',
        width: Math.max(plot.clientWidth, 480),
        height,
        scale: 2
      });
    },
    dispose: () => {
      disposed = true;
      stopTheme();
      observer?.disconnect();
      cancelAnimationFrame(frame);
      if (plotted) {
        void loadPlotly().then(P => P.purge(plot));
      }
    }
  };
}

/** A dashboard chart widget: `{title, kind, figure}`. */
export function renderChart(w: any, ctx: IWidgetContext): IWidgetView {
  const view = renderPlot(w?.figure ?? {}, str(w?.title) || str(w?.figure?.layout?.title?.text), ctx);
  view.node.dataset.kind = str(w?.kind);
  return view;
}
