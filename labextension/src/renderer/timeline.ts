/** Timelines: events with a severity badge, time, title and detail, in the order the spec gives. */

import { card, el, str } from './dom';
import { formatDateTime } from './format';
import type { IWidgetContext, IWidgetView } from './types';

const SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4', 'info'];

export function renderTimeline(w: any, ctx: IWidgetContext): IWidgetView {
  const events: any[] = Array.isArray(w.events) ? w.events.filter((e: any) => e && typeof e === 'object') : [];
  const limit = ctx.compact ? 5 : 50;
  const list = el('ol', 'penny-timeline-list');
  for (const ev of events.slice(0, limit)) {
    const sev = SEVERITIES.includes(str(ev.severity)) ? str(ev.severity) : 'info';
    const time = str(ev.time);
    list.appendChild(
      el(
        'li',
        { className: 'penny-timeline-event', attrs: { 'data-severity': sev } },
        el('span', { className: `penny-sev penny-sev-${sev}`, text: sev === 'info' ? 'INFO' : sev.toUpperCase() }),
        el(
          'div',
          'penny-timeline-body',
          el('div', 'penny-timeline-head',
            el('span', { className: 'penny-timeline-title', text: str(ev.title) }),
            time ? el('time', { className: 'penny-timeline-time', text: formatDateTime(time), attrs: { datetime: time } }) : null
          ),
          str(ev.detail) ? el('div', { className: 'penny-timeline-detail', text: str(ev.detail) }) : null
        )
      )
    );
  }
  const rest = events.length - Math.min(events.length, limit);
  const node = card(
    'timeline',
    str(w.title) || 'Timeline',
    events.length ? list : el('p', { className: 'penny-view-empty', text: 'No events in this period' }),
    rest > 0 ? el('div', { className: 'penny-table-more', text: `${rest} more events` }) : null
  );
  node.classList.add('penny-timeline');
  return { node };
}
