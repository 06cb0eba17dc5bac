/**
 * What each artifact type draws under the view's header: one small function per type, over the
 * per-type modules (dashboard.ts, charts.ts, table.ts, document.ts, code.ts, image.ts).
 */

import { renderPlot } from './charts';
import { renderCode } from './code';
import { renderDashboard } from './dashboard';
import { renderDocument } from './document';
import { el, str } from './dom';
import { renderImage } from './image';
import { renderTable } from './table';
import type { IWidgetContext, IWidgetView } from './types';

/** The nodes to mount under the header, and the views to wait on, snapshot and dispose. */
export interface IArtifactBody {
  nodes: HTMLElement[];
  views: IWidgetView[];
}

type BodyRenderer = (spec: any, ctx: IWidgetContext, title: string) => IArtifactBody;

function single(view: IWidgetView): IArtifactBody {
  return { nodes: [view.node], views: [view] };
}

function empty(text: string): IArtifactBody {
  return single({ node: el('p', { className: 'penny-view-empty', text }) });
}

function dashboardBody(spec: any, ctx: IWidgetContext): IArtifactBody {
  // The grid already holds every widget's node: mount the grid, keep the widgets' views.
  const d = renderDashboard(spec, ctx);
  return { nodes: [d.node], views: d.views };
}

function chartBody(spec: any, ctx: IWidgetContext): IArtifactBody {
  // No card title: the view's header shows the artifact's.
  const v = renderPlot(spec.figure ?? spec, '', ctx);
  v.node.dataset.kind = str(spec.kind);
  return single(v);
}

// A Map, not an object literal: a type such as "constructor" must not find Object.prototype's.
const BODIES = new Map<string, BodyRenderer>([
  ['dashboard', dashboardBody],
  ['chart', chartBody],
  ['table', (spec, ctx) => single(renderTable(spec, ctx, ''))],
  ['document', (spec, ctx) => single(renderDocument(spec, ctx))],
  ['code', (spec, ctx) => single(renderCode(spec, ctx))],
  ['image', (spec, _ctx, title) => single(renderImage(spec, title))]
]);

/** The body for `type`; an unknown type or a renderer that throws gives a one-line note instead. */
export function renderBody(type: string, id: string, spec: any, ctx: IWidgetContext, title: string): IArtifactBody {
  const render = BODIES.get(type);
  if (!render) {
    return empty(`Penny cannot show a "${type}" artifact here.`);
  }
  try {
    return render(spec, ctx, title);
  } catch (err) {
    console.warn('Penny: could not render artifact', id, err);
    return empty('This artifact could not be shown.');
  }
}
