/**
 * Gauges as inline SVG (no plotly: a gauge is a few arcs, and drawing it synchronously keeps a
 * dashboard's paint time down): a half ring of threshold bands, the value arc over it in the colour
 * of the band it falls in, the value in the middle, min and max under the ends.
 */

import { card, el, safeColor, str, svg } from './dom';
import { formatNumber, isNum } from './format';
import type { IWidgetView } from './types';

const CX = 60;
const CY = 56;
const R = 46;

function point(f: number): [number, number] {
  const a = Math.PI * (1 - f);
  return [CX + R * Math.cos(a), CY - R * Math.sin(a)];
}

function arc(f0: number, f1: number): string {
  const [x0, y0] = point(f0);
  const [x1, y1] = point(f1);
  return `M${x0.toFixed(2)} ${y0.toFixed(2)}A${R} ${R} 0 0 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

/** Colour from data goes through CSSOM (a validated colour, never markup); CSS gives the default. */
function stroked<T extends SVGElement>(node: T, color: string | null): T {
  if (color) {
    node.style.stroke = color;
  }
  return node;
}

function unitFormat(unit: string): string {
  return unit === 'percent' ? 'percent_1' : unit === 'currency' ? 'currency_compact' : unit === 'hours' ? 'hours_1' : 'integer';
}

export function renderGauge(w: any): IWidgetView {
  const title = str(w.title) || 'Gauge';
  const min = isNum(w.min) ? w.min : 0;
  const max = isNum(w.max) && w.max > min ? w.max : min + 1;
  const value = isNum(w.value) ? w.value : null;
  const frac = (v: number) => Math.min(1, Math.max(0, (v - min) / (max - min)));
  const fmt = unitFormat(str(w.unit));
  const shown = str(w.formatted) || formatNumber(value, fmt);

  const bands = (Array.isArray(w.thresholds) ? w.thresholds : [])
    .filter((t: any) => isNum(t?.value))
    .sort((a: any, b: any) => a.value - b.value);
  const parts: SVGElement[] = [svg('path', { class: 'penny-gauge-track', d: arc(0, 1) })];
  let from = 0;
  let valueColor: string | null = null;
  let status = '';
  for (const [i, t] of bands.entries()) {
    const to = frac(t.value);
    const color = safeColor(t.color);
    if (to > from) {
      parts.push(stroked(svg('path', { class: 'penny-gauge-band', d: arc(from, to) }), color));
    }
    if (value !== null && valueColor === null && (value <= t.value || i === bands.length - 1)) {
      valueColor = color;
      status = i === bands.length - 1 ? 'high' : i === 0 ? 'low' : 'mid';
    }
    from = to;
  }
  if (value !== null && frac(value) > 0) {
    parts.push(stroked(svg('path', { class: 'penny-gauge-value', d: arc(0, Math.max(frac(value), 0.005)) }), valueColor));
  }
  if (value !== null) {
    const [nx, ny] = point(frac(value));
    parts.push(svg('circle', { class: 'penny-gauge-needle', cx: nx.toFixed(2), cy: ny.toFixed(2), r: 3.2 }));
  }
  const gauge = svg(
    'svg',
    {
      class: 'penny-gauge-svg',
      viewBox: '0 0 120 74',
      role: 'img',
      'aria-label': `${title}: ${shown} (range ${formatNumber(min, fmt)} to ${formatNumber(max, fmt)})`
    },
    ...parts,
    svg('text', { class: 'penny-gauge-number', x: CX, y: CY - 4, 'text-anchor': 'middle' }, shown),
    svg('text', { class: 'penny-gauge-bound', x: CX - R, y: CY + 14, 'text-anchor': 'middle' }, formatNumber(min, fmt)),
    svg('text', { class: 'penny-gauge-bound', x: CX + R, y: CY + 14, 'text-anchor': 'middle' }, formatNumber(max, fmt))
  );
  const node = card('gauge', title, el('div', 'penny-gauge-body', gauge));
  node.classList.add('penny-gauge');
  if (status) {
    node.dataset.band = status;
  }
  return { node };
}
