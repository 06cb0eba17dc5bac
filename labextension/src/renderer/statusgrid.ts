/** Service-status grids: a status dot, the service name and its detail, plus a one-line summary. */

import { card, el, str } from './dom';
import type { IWidgetView } from './types';

const STATUSES: Record<string, string> = {
  operational: 'Operational',
  degraded: 'Degraded',
  outage: 'Outage',
  maintenance: 'Maintenance'
};

export function renderStatusGrid(w: any): IWidgetView {
  const items: any[] = Array.isArray(w.items) ? w.items.filter((i: any) => i && typeof i === 'object') : [];
  const list = el('ul', 'penny-svc-list');
  let ok = 0;
  for (const it of items) {
    const status = str(it.status) in STATUSES ? str(it.status) : 'unknown';
    ok += status === 'operational' ? 1 : 0;
    const label = STATUSES[status] ?? 'Unknown';
    list.appendChild(
      el(
        'li',
        { className: 'penny-svc-item', attrs: { 'data-status': status } },
        el('span', { className: `penny-svc-dot penny-svc-${status}`, attrs: { role: 'img', 'aria-label': label }, title: label }),
        el('div', 'penny-svc-text',
          el('div', 'penny-svc-name', el('span', { text: str(it.name) }),
            status !== 'operational' ? el('span', { className: 'penny-svc-label', text: label }) : null),
          str(it.detail) ? el('div', { className: 'penny-svc-detail', text: str(it.detail) }) : null
        )
      )
    );
  }
  const summary = items.length
    ? ok === items.length
      ? `All ${items.length} services operational`
      : `${ok} of ${items.length} services operational`
    : 'No services';
  const node = card('status', str(w.title) || 'Service status', el('div', { className: 'penny-svc-summary', text: summary }), list);
  node.classList.add('penny-status-grid');
  return { node };
}
