/** Metric cards: label, value, change (▲/▼/■ coloured by up_is_good), comparison and an SVG sparkline. */

import { card, el, str, svg } from './dom';
import { formatNumber, isNum } from './format';
import type { IWidgetView } from './types';

export type Direction = 'up' | 'down' | 'flat';

export function direction(w: any): Direction {
  const change = isNum(w.change) ? w.change : isNum(w.change_pct) ? w.change_pct : null;
  if (change !== null) {
    return change > 0 ? 'up' : change < 0 ? 'down' : 'flat';
  }
  const f = str(w.formatted_change).trim();
  return f.startsWith('▲') ? 'up' : f.startsWith('▼') ? 'down' : 'flat';
}

/** The change text without its arrow ("3.8%"), built from the numbers when the spec has no text. */
function changeText(w: any): string {
  const f = str(w.formatted_change).trim();
  if (f) {
    return f.replace(/^[▲▼■]\s*/, '');
  }
  if (isNum(w.change_pct)) {
    return `${Math.abs(w.change_pct).toFixed(1)}%`;
  }
  return '';
}

export function renderMetric(w: any): IWidgetView {
  const dir = direction(w);
  const label = str(w.label) || str(w.name) || 'Metric';
  const value = str(w.formatted) || formatNumber(w.value, str(w.format, 'text'));
  const arrow = dir === 'up' ? '▲' : dir === 'down' ? '▼' : '■';
  const upIsGood = w.up_is_good !== false;
  const good = dir === 'flat' ? null : (dir === 'up') === upIsGood;
  const text = changeText(w);
  const spoken =
    dir === 'flat' ? 'no change' : `${dir === 'up' ? 'up' : 'down'} ${text}${good ? ' (good)' : ' (bad)'}`;

  const change = el(
    'span',
    {
      className: 'penny-metric-change',
      attrs: { 'data-direction': dir, 'data-good': good === null ? null : String(good), 'aria-label': spoken }
    },
    el('span', { className: 'penny-metric-arrow', text: arrow, attrs: { 'aria-hidden': 'true' } }),
    text ? ' ' + text : ''
  );
  const comparison = str(w.comparison);
  const previous = str(w.formatted_previous);
  const node = card(
    'metric',
    null,
    el('div', { className: 'penny-metric-label', text: label, title: label }),
    el('div', { className: 'penny-metric-value', text: value, title: value }),
    el(
      'div',
      'penny-metric-delta',
      text || dir !== 'flat' ? change : null,
      comparison
        ? el('span', {
            className: 'penny-metric-comparison',
            text: ` vs ${comparison}`,
            title: previous ? `${comparison}: ${previous}` : comparison
          })
        : null
    ),
    Array.isArray(w.sparkline) ? sparkline(w.sparkline, label) : null
  );
  node.classList.add('penny-metric');
  node.dataset.metric = str(w.name);
  return { node };
}

/**
 * A sparkline as inline SVG: a 100x24 viewBox stretched to the card width, nulls break the line,
 * a faint area under it and a dot on the last value.
 */
export function sparkline(values: unknown[], label: string): SVGSVGElement | null {
  const pts = values.map(v => (isNum(v) ? v : null));
  const nums = pts.filter((v): v is number => v !== null);
  if (nums.length < 2) {
    return null;
  }
  const W = 100;
  const H = 24;
  const pad = 2;
  let lo = Math.min(...nums);
  let hi = Math.max(...nums);
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const x = (i: number) => (pts.length === 1 ? W / 2 : (i / (pts.length - 1)) * W);
  const y = (v: number) => pad + (1 - (v - lo) / (hi - lo)) * (H - 2 * pad);
  let line = '';
  let area = '';
  let run: Array<[number, number]> = [];
  const flush = () => {
    if (run.length) {
      line += run.map(([a, b], k) => `${k ? 'L' : 'M'}${a.toFixed(2)} ${b.toFixed(2)}`).join('');
      if (run.length > 1) {
        area +=
          `M${run[0][0].toFixed(2)} ${H}` +
          run.map(([a, b]) => `L${a.toFixed(2)} ${b.toFixed(2)}`).join('') +
          `L${run[run.length - 1][0].toFixed(2)} ${H}Z`;
      }
    }
    run = [];
  };
  pts.forEach((v, i) => (v === null ? flush() : run.push([x(i), y(v)])));
  flush();
  const min = Math.min(...nums);
  const max = Math.max(...nums);
  const s = svg(
    'svg',
    {
      class: 'penny-sparkline',
      viewBox: `0 0 ${W} ${H}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `${label} trend, ${nums.length} points, low ${fmtShort(min)}, high ${fmtShort(max)}`
    },
    svg('path', { class: 'penny-sparkline-area', d: area }),
    svg('path', { class: 'penny-sparkline-line', d: line, 'vector-effect': 'non-scaling-stroke' })
  );
  return s;
}

function fmtShort(v: number): string {
  return Math.abs(v) >= 1000 ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(+v.toPrecision(3));
}
