/// <reference path="./plotly.d.ts" />
/**
 * The plotly.js loader: the finance dist (bar, funnel, indicator, pie, scatter, waterfall) is fetched
 * ONCE per page by a dynamic import, which the bundler emits as its own chunk; every chart awaits the
 * same module-level promise. A failed load is forgotten so a later render can try again.
 */

/** The part of the plotly.js API the renderer uses. */
export interface IPlotly {
  newPlot(div: HTMLElement, data: any[], layout?: any, config?: any): Promise<HTMLElement>;
  react(div: HTMLElement, data: any[], layout?: any, config?: any): Promise<HTMLElement>;
  toImage(div: HTMLElement, opts: { format: 'png'; width?: number; height?: number; scale?: number }): Promise<string>;
  purge(div: HTMLElement): void;
  Plots: { resize(div: HTMLElement): Promise<void> | void };
}

let loading: Promise<IPlotly> | null = null;

export function loadPlotly(): Promise<IPlotly> {
  if (!loading) {
    loading = import(/* webpackChunkName: "penny-plotly" */ 'plotly.js-finance-dist-min').then((m: any) => {
      const api = (m && m.newPlot ? m : m?.default) as IPlotly | undefined;
      if (!api || typeof api.newPlot !== 'function') {
        throw new Error('plotly.js did not load');
      }
      return api;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

/** True once plotly.js has been requested on this page (for benchmarks: cold vs warm). */
export function plotlyRequested(): boolean {
  return loading !== null;
}

/**
 * Calls `redraw` whenever JupyterLab switches theme (light/dark), until the returned function is called:
 * a chart drawn in one theme must not keep its white background in the other.
 */
export function onThemeChange(redraw: () => void): () => void {
  if (typeof MutationObserver !== 'function') {
    return () => undefined;
  }
  const observer = new MutationObserver(() => redraw());
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name'] });
  return () => observer.disconnect();
}

/** JupyterLab theme colours, read from the CSS variables where the chart is mounted. */
export interface ITheme {
  font: string;
  fontMuted: string;
  background: string;
  grid: string;
  line: string;
  family: string;
}

export function readTheme(node: Element): ITheme {
  const cs = getComputedStyle(node.isConnected ? node : document.body);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  return {
    font: v('--jp-ui-font-color1', '#212121'),
    fontMuted: v('--jp-ui-font-color2', '#616161'),
    background: v('--jp-layout-color1', '#ffffff'),
    grid: v('--jp-border-color2', '#e0e0e0'),
    line: v('--jp-border-color1', '#bdbdbd'),
    family: v('--jp-ui-font-family', 'system-ui, sans-serif')
  };
}

function axisTheme(axis: any, t: ITheme): any {
  return {
    automargin: true,
    ...axis,
    color: t.fontMuted,
    gridcolor: t.grid,
    linecolor: t.line,
    zerolinecolor: t.line,
    tickfont: { size: 10, ...(axis?.tickfont ?? {}), color: t.fontMuted }
  };
}

/**
 * The figure's layout with the theme applied: our card shows the title (so plotly's is dropped),
 * colours come from the JupyterLab theme, margins are tight and the height fits the card.
 */
export function themedLayout(layout: any, t: ITheme, height: number, data: any[] = []): any {
  const out: any = { ...(layout ?? {}) };
  delete out.template;
  delete out.width;
  out.title = { text: '' };
  out.autosize = true;
  out.height = height;
  out.paper_bgcolor = t.background;
  out.plot_bgcolor = t.background;
  out.font = { family: t.family, size: 11, ...(layout?.font ?? {}), color: t.font };
  out.margin = { l: 8, r: 12, t: 8, b: 8, pad: 2 };
  out.hoverlabel = { font: { family: t.family } };
  // A legend only when there is more than one series (or the figure asks): one line above the plot.
  const legend = out.showlegend ?? (data.length > 1 || data.some(d => d?.type === 'pie'));
  out.showlegend = legend;
  const pie = data.some(d => d?.type === 'pie');
  // pies keep plotly's legend at the right; other charts get one line above the plot
  const placement = pie ? {} : { orientation: 'h', x: 0, xanchor: 'left', y: 1.02, yanchor: 'bottom' };
  out.legend = { ...placement, ...(layout?.legend ?? {}), font: { color: t.font } };
  if (legend && !pie) {
    out.margin.t = 28;
  }
  out.modebar = { bgcolor: 'rgba(0,0,0,0)', color: t.fontMuted, activecolor: t.font };
  for (const key of Object.keys(out)) {
    if (/^[xy]axis\d*$/.test(key)) {
      out[key] = axisTheme(out[key], t);
    }
  }
  out.xaxis = axisTheme(out.xaxis, t);
  out.yaxis = axisTheme(out.yaxis, t);
  return out;
}
