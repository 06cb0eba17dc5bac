/**
 * Dashboards: a responsive CSS grid of widget cards. Metric and gauge cards take one column of
 * `repeat(auto-fill, minmax(...))`; charts, tables, timelines and status grids take the full row
 * unless the spec gives a `span` (1-4, capped to the full row when the dashboard is narrow).
 */

import { card, el, str } from './dom';
import { renderChart } from './charts';
import { formatRange } from './format';
import { renderGauge } from './gauge';
import { renderMetric } from './metric';
import { renderStatusGrid } from './statusgrid';
import { renderTable } from './table';
import { renderTimeline } from './timeline';
import type { IWidgetContext, IWidgetView } from './types';

const SMALL = new Set(['metric', 'gauge']);

export function renderWidget(w: any, ctx: IWidgetContext): IWidgetView {
  switch (w?.type) {
    case 'metric':
      return renderMetric(w);
    case 'chart':
      return renderChart(w, ctx);
    case 'gauge':
      return renderGauge(w);
    case 'table':
      return renderTable(w, ctx);
    case 'timeline':
      return renderTimeline(w, ctx);
    case 'grid':
      return renderStatusGrid(w);
    default:
      return { node: card('unknown', str(w?.title) || null, el('p', { className: 'penny-view-empty', text: `Unsupported widget: ${str(w?.type, '?')}` })) };
  }
}

function failed(w: any, err: unknown): IWidgetView {
  console.warn('Penny: a dashboard widget failed to render', err);
  return {
    node: card('error', str(w?.title) || str(w?.label) || null, el('p', { className: 'penny-view-empty', text: 'This widget could not be drawn.' }))
  };
}

export interface IDashboardView {
  node: HTMLElement;
  views: IWidgetView[];
}

export function renderDashboard(spec: any, ctx: IWidgetContext): IDashboardView {
  const widgets: any[] = Array.isArray(spec?.widgets) ? spec.widgets : [];
  const grid = el('div', { className: 'penny-dashboard', attrs: { 'data-layout': str(spec?.layout, 'grid') } });
  const views: IWidgetView[] = [];
  for (const w of widgets) {
    let view: IWidgetView;
    try {
      view = renderWidget(w, ctx);
    } catch (err) {
      view = failed(w, err);
    }
    if (view.painted) {
      view.painted = view.painted.catch(err => {
        view.node.classList.add('penny-widget-failed');
        view.node.appendChild(el('p', { className: 'penny-view-empty', text: 'This widget could not be drawn.' }));
        console.warn('Penny: a dashboard widget failed to draw', err);
      });
    }
    const type = str(w?.type);
    const span = Number.isInteger(w?.span) ? Math.min(4, Math.max(1, w.span)) : null;
    const cell = el('div', { className: 'penny-cell', attrs: { 'data-widget': type } }, view.node);
    cell.classList.add(span ? `penny-span-${span}` : SMALL.has(type) ? 'penny-span-1' : 'penny-span-row');
    grid.appendChild(cell);
    views.push(view);
  }
  if (!widgets.length) {
    grid.appendChild(el('p', { className: 'penny-view-empty', text: 'This dashboard has no widgets.' }));
  }
  return { node: grid, views };
}

/** "Nov 1 – Nov 25, 2026 · vs Oct 1 – Oct 25, 2026" from the spec's period, or ''. */
export function periodText(spec: any): string {
  const p = spec?.period;
  if (!p || typeof p !== 'object') {
    return typeof p === 'string' ? p : '';
  }
  const range = (a: unknown, b: unknown) => (str(a) && str(b) ? formatRange(str(a), str(b)) : '');
  const now = range(p.start, p.end);
  const before = range(p.previous_start, p.previous_end);
  return [str(p.kind), now, before ? `vs ${before}` : ''].filter(Boolean).join(' · ');
}
