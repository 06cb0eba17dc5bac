/**
 * Sortable tables: a header button per column toggles ascending/descending (aria-sort on the th);
 * numbers sort numerically and right-align, empty cells sort last. Compact views show 5 rows.
 * A table wider than its card turns each row into label/value lines (`penny-mod-stacked`), so a
 * narrow sidebar never cuts a value to "$2"; what still overflows scrolls behind an edge shadow.
 */

import { card, el, str } from './dom';
import { formatNumber, isNumericFormat } from './format';
import type { IWidgetContext, IWidgetView } from './types';

interface IColumn {
  key: string;
  label: string;
  format: string;
}

export const COMPACT_ROWS = 5;

function columnsOf(w: any, rows: any[]): IColumn[] {
  if (Array.isArray(w.columns) && w.columns.length) {
    return w.columns.map((c: any) =>
      typeof c === 'string'
        ? { key: c, label: c, format: 'text' }
        : { key: str(c?.key), label: str(c?.label) || str(c?.key), format: str(c?.format) || 'text' }
    );
  }
  const keys: string[] = [];
  for (const r of rows.slice(0, 50)) {
    for (const k of Object.keys(r ?? {})) {
      if (!keys.includes(k)) {
        keys.push(k);
      }
    }
  }
  return keys.map(k => ({
    key: k,
    label: k,
    format: rows.some(r => typeof r?.[k] === 'number') ? 'number' : 'text'
  }));
}

function compare(a: unknown, b: unknown): number {
  const ea = a === null || a === undefined || a === '';
  const eb = b === null || b === undefined || b === '';
  if (ea || eb) {
    return ea && eb ? 0 : ea ? 1 : -1;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
}

export function renderTable(w: any, ctx: IWidgetContext, title?: string): IWidgetView {
  const rows: any[] = Array.isArray(w.rows) ? w.rows.filter((r: any) => r && typeof r === 'object') : [];
  const cols = columnsOf(w, rows);
  const limit = ctx.compact ? COMPACT_ROWS : Infinity;
  let sortKey: string | null = null;
  let dir: 1 | -1 = 1;

  const tbody = el('tbody');
  const more = el('div', { className: 'penny-table-more' });
  const headers = cols.map(c => {
    const button = el('button', { className: 'penny-table-sort', attrs: { type: 'button' } }, c.label,
      el('span', { className: 'penny-table-sort-icon', attrs: { 'aria-hidden': 'true' } }));
    const th = el('th', { attrs: { scope: 'col', 'aria-sort': 'none', 'data-key': c.key } }, button);
    if (isNumericFormat(c.format)) {
      th.classList.add('penny-num');
    }
    button.addEventListener('click', () => {
      dir = sortKey === c.key ? (dir === 1 ? -1 : 1) : 1;
      sortKey = c.key;
      for (const h of headers) {
        h.setAttribute('aria-sort', h === th ? (dir === 1 ? 'ascending' : 'descending') : 'none');
      }
      fill();
    });
    return th;
  });

  function fill(): void {
    let ordered = rows;
    if (sortKey !== null) {
      const k = sortKey;
      ordered = rows
        .map((r, i) => [r, i] as const)
        .sort(([a, i], [b, j]) => {
          const c = compare(a[k], b[k]);
          // empty cells stay last in both directions; ties keep their original order
          const empty = a[k] === null || a[k] === undefined || b[k] === null || b[k] === undefined;
          return (c === 0 ? 0 : empty ? c : c * dir) || i - j;
        })
        .map(([r]) => r);
    }
    const shown = ordered.slice(0, limit);
    tbody.replaceChildren(
      ...shown.map(r =>
        el(
          'tr',
          {},
          ...cols.map(c =>
            el('td', {
              className: isNumericFormat(c.format) ? 'penny-num' : '',
              text: formatNumber(r[c.key], c.format),
              attrs: { 'data-label': c.label }
            })
          )
        )
      )
    );
    if (!rows.length) {
      tbody.appendChild(el('tr', {}, el('td', { className: 'penny-table-empty', text: 'No rows', attrs: { colspan: cols.length || 1 } })));
    }
    more.textContent = rows.length > shown.length ? `${rows.length - shown.length} more of ${rows.length} rows` : '';
    more.hidden = !more.textContent;
  }
  fill();

  const caption = title ?? str(w.title);
  const table = el('table', {}, el('thead', {}, el('tr', {}, ...headers)), tbody);
  const scroll = el('div', 'penny-table-scroll', table);
  const frame = el('div', 'penny-table-frame', scroll);
  const node = card('table', caption || null, frame, more);
  node.classList.add('penny-table');
  const observer = fitToWidth(node, table, scroll, frame, cols.length);
  return { node, dispose: () => observer?.disconnect() };
}

/**
 * Stack the rows when the table's own width (measured unstacked, so the choice does not flicker)
 * is more than its card has; mark the edges that hide content so the shadow says "scrolls".
 */
function fitToWidth(
  node: HTMLElement,
  table: HTMLElement,
  scroll: HTMLElement,
  frame: HTMLElement,
  columns: number
): ResizeObserver | null {
  let natural = 0;
  const edges = () => {
    const hidden = scroll.scrollWidth - scroll.clientWidth;
    frame.classList.toggle('penny-mod-more-left', hidden > 1 && scroll.scrollLeft > 1);
    frame.classList.toggle('penny-mod-more-right', hidden > 1 && scroll.scrollLeft < hidden - 1);
  };
  const fit = () => {
    const width = scroll.clientWidth;
    if (!width) {
      return; // not laid out (a hidden tab): wait for a size
    }
    if (!node.classList.contains('penny-mod-stacked')) {
      natural = table.scrollWidth;
    }
    node.classList.toggle('penny-mod-stacked', columns > 1 && natural > width + 1);
    edges();
  };
  scroll.addEventListener('scroll', edges, { passive: true });
  if (typeof ResizeObserver !== 'function') {
    return null;
  }
  const observer = new ResizeObserver(() => fit());
  observer.observe(scroll);
  return observer;
}
