/**
 * The tenant admin panel, a main-area tab for admins: the tenant's users and roles, 30 days of tool usage
 * (a chart, per tool, per user), the audit log with its chain check, the data sources and the model.
 * Everything comes from one request (`GET penny/api/admin`); the server decides who may see it and
 * which tenant. The chart is plain SVG coloured by CSS variables, so it follows a theme change at once.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { PennyApi } from './api';
import { el } from './dom';
import { pennyIcon } from './icon';
import type { IAdminOverview, IAuditEntry, IUsageCounts } from './protocol';

export const OPEN_ADMIN_COMMAND = 'penny:open-admin';
const WIDGET_ID = 'penny-admin';
const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Registers "Penny: Open admin panel" (command palette) and, when `GET me` says the caller is an admin,
 * adds an "Admin" button to the sidebar's header (`header`: an element holding its status line).
 */
export function setupAdmin(
  app: JupyterFrontEnd,
  api: PennyApi,
  header: HTMLElement,
  palette: ICommandPalette | null
): void {
  app.commands.addCommand(OPEN_ADMIN_COMMAND, {
    label: 'Penny: Open admin panel',
    caption: "Your tenant's users, usage, audit log, data sources and model (admins only)",
    execute: () => openAdmin(app, api)
  });
  if (palette) {
    palette.addItem({ command: OPEN_ADMIN_COMMAND, category: 'Penny' });
  }
  void api
    .me()
    .then(me => {
      if (!me.roles.includes('admin')) {
        return;
      }
      // at the end of the status line: the title row has no room to spare for the model picker
      const button = el('button', 'penny-admin-button penny-admin-open', 'Admin');
      button.type = 'button';
      button.title = `Open the admin panel of tenant ${me.tenant}`;
      button.addEventListener('click', () => void app.commands.execute(OPEN_ADMIN_COMMAND));
      (header.querySelector('.penny-status') ?? header).append(button);
    })
    .catch(err => console.warn('Penny: could not tell whether you are an admin', err));
}

/** The admin tab (one; reused and refreshed if open). */
export function openAdmin(app: JupyterFrontEnd, api: PennyApi): MainAreaWidget<AdminPanel> {
  for (const w of app.shell.widgets('main')) {
    if (w.id === WIDGET_ID) {
      const open = w as MainAreaWidget<AdminPanel>;
      app.shell.activateById(WIDGET_ID);
      void open.content.refresh();
      return open;
    }
  }
  const widget = new MainAreaWidget({ content: new AdminPanel(api) });
  widget.id = WIDGET_ID;
  widget.title.label = 'Penny admin';
  widget.title.icon = pennyIcon;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  app.shell.activateById(WIDGET_ID);
  return widget;
}

export class AdminPanel extends Widget {
  constructor(api: PennyApi) {
    super();
    this._api = api;
    this.addClass('penny-admin');
    const header = el('div', 'penny-admin-header');
    this._title = el('h2', 'penny-admin-title', 'Penny admin');
    this._updated = el('span', 'penny-admin-updated');
    const refresh = el('button', 'penny-admin-button penny-admin-refresh', 'Refresh');
    refresh.type = 'button';
    refresh.addEventListener('click', () => void this.refresh());
    header.append(this._title, this._updated, refresh);
    this._body = el('div', 'penny-admin-body');
    this.node.append(header, this._body);
    this._resize = new ResizeObserver(() => this._drawChart());
    void this.refresh();
  }

  /** Fetch and draw everything again. */
  async refresh(): Promise<void> {
    this.node.dataset.state = 'loading';
    this._updated.textContent = 'Loading…';
    try {
      this._data = await this._api.admin();
    } catch (err) {
      this.node.dataset.state = 'error';
      this._updated.textContent = '';
      this._body.replaceChildren(el('div', 'penny-admin-error', (err as Error).message));
      return;
    }
    this.node.dataset.state = 'ready';
    this._title.textContent = `Penny admin · tenant ${this._data.tenant}`;
    this._updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    this._render(this._data);
  }

  dispose(): void {
    this._resize.disconnect();
    super.dispose();
  }

  private _render(d: IAdminOverview): void {
    const status = el('div', 'penny-admin-status');
    status.append(this._modelCard(d), this._sourcesCard(d), this._chainCard(d));

    const usage = section('Usage, last 30 days', 'penny-admin-usage');
    const total = sum(d.usage.days);
    usage.head.append(
      el('span', 'penny-admin-meta', `${d.usage.since} to ${d.usage.until} (UTC) · ${countsText(total)}`)
    );
    const legend = el('div', 'penny-admin-legend');
    for (const [cls, label] of SERIES) {
      const item = el('span', 'penny-admin-legend-item');
      item.append(el('span', `penny-admin-swatch ${cls}`), document.createTextNode(label));
      legend.append(item);
    }
    this._chart = el('div', 'penny-admin-chart');
    usage.node.append(legend, this._chart);

    const split = el('div', 'penny-admin-split');
    const tools = section('By tool');
    tools.node.append(
      table(['Tool', 'Calls', 'Errors', 'Rate-limited'], d.usage.byTool.map(t => [t.tool, ...numbers(t)]),
        'No tool calls in the last 30 days.')
    );
    const people = section('By user');
    people.node.append(
      table(['User', 'Calls', 'Errors', 'Rate-limited'], d.usage.byUser.map(u => [u.user, ...numbers(u)]),
        'No tool calls in the last 30 days.')
    );
    split.append(tools.node, people.node);

    const users = section('Users and roles', 'penny-admin-users');
    users.node.append(
      table(
        ['User', 'Roles', 'Calls', 'Errors', 'Rate-limited', 'Last seen'],
        d.users.map(u => [u.user, roleChips(u.roles), ...numbers(u), u.lastSeen ? when(u.lastSeen) : 'never']),
        'Nobody in this tenant yet.'
      )
    );

    const audit = section(`Audit log · newest ${d.audit.entries.length}`, 'penny-admin-audit');
    audit.head.append(chainBadge(d));
    audit.node.append(
      table(
        ['#', 'When', 'User', 'Tool', 'Outcome', 'ms', 'Rows', 'Hash'],
        d.audit.entries.map(e => auditRow(e)),
        'No tool calls recorded yet.',
        d.audit.entries.map(e => (e.id === d.audit.firstBadId ? 'penny-admin-bad' : ''))
      )
    );

    this._body.replaceChildren(status, users.node, usage.node, split, audit.node);
    this._resize.disconnect();
    this._resize.observe(this._chart);
    this._drawChart();
  }

  private _modelCard(d: IAdminOverview): HTMLElement {
    const card = section('Model', 'penny-admin-model');
    const active = d.model.models.find(m => m.id === d.model.active);
    card.node.append(
      el('div', 'penny-admin-big', d.model.active),
      el('p', 'penny-admin-detail', d.model.reason)
    );
    if (active && active.label !== d.model.active) {
      card.head.append(el('span', 'penny-admin-meta', active.label));
    }
    return card.node;
  }

  private _sourcesCard(d: IAdminOverview): HTMLElement {
    const card = section('Data sources', 'penny-admin-sources');
    for (const s of d.sources) {
      const row = el('div', 'penny-admin-source');
      row.dataset.ok = String(s.ok);
      const name = el('div', 'penny-admin-source-name');
      name.append(
        badge(s.ok ? 'answers' : 'failed', s.ok ? 'ok' : 'bad'),
        el('strong', '', s.name),
        el('span', 'penny-admin-meta', s.kind)
      );
      row.append(name, el('p', 'penny-admin-detail', s.detail));
      card.node.append(row);
    }
    return card.node;
  }

  private _chainCard(d: IAdminOverview): HTMLElement {
    const card = section('Audit chain', 'penny-admin-chain');
    card.node.append(
      chainBadge(d),
      el(
        'p',
        'penny-admin-detail',
        d.audit.verified
          ? 'Every row of the log still hashes to the next: no row was changed or removed.'
          : `Row #${d.audit.firstBadId} does not match the chain: it or the row before it was changed or removed.`
      )
    );
    return card.node;
  }

  /** Stacked bars per day (succeeded, errors, rate-limited), drawn at the container's width. */
  private _drawChart(): void {
    const host = this._chart;
    const days = this._data?.usage.days;
    if (!host || !days || !host.isConnected) {
      return;
    }
    const width = Math.max(280, host.clientWidth);
    const height = 200;
    const m = { l: 36, r: 8, t: 8, b: 24 };
    const plotW = width - m.l - m.r;
    const plotH = height - m.t - m.b;
    const top = niceMax(Math.max(0, ...days.map(d => d.calls)));
    const y = (v: number) => m.t + plotH - (v / top) * plotH;
    const band = plotW / days.length;
    const svg = svgEl('svg', { width, height, role: 'img', class: 'penny-admin-svg' });
    svg.setAttribute('aria-label', `Tool calls per day, ${days[0].date} to ${days[days.length - 1].date}`);
    const step = top / 4;
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(svgEl('line', { x1: m.l, x2: width - m.r, y1: y(v), y2: y(v), class: 'penny-admin-grid' }));
      const label = svgEl('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'penny-admin-axis' });
      label.textContent = String(Math.round(v));
      svg.append(label);
    }
    days.forEach((d, i) => {
      const x = m.l + i * band + band * 0.15;
      const w = Math.max(1, band * 0.7);
      const g = svgEl('g', { class: 'penny-admin-day' });
      const title = svgEl('title', {});
      title.textContent = `${d.date}: ${countsText(d)}`;
      g.append(title);
      let base = 0;
      for (const [cls, , value] of stacks(d)) {
        if (value > 0) {
          g.append(svgEl('rect', { x, width: w, y: y(base + value), height: y(base) - y(base + value), class: cls }));
        }
        base += value;
      }
      // an invisible full-height target, so the tooltip shows on empty days too
      g.append(svgEl('rect', { x: m.l + i * band, width: band, y: m.t, height: plotH, class: 'penny-admin-hit' }));
      svg.append(g);
      if ((days.length - 1 - i) % 7 === 0) {
        const label = svgEl('text', { x: x + w / 2, y: height - 6, 'text-anchor': 'middle', class: 'penny-admin-axis' });
        label.textContent = shortDate(d.date);
        svg.append(label);
      }
    });
    host.replaceChildren(svg);
    if (sum(days).calls === 0) {
      host.append(el('div', 'penny-admin-chart-empty', 'No tool calls in the last 30 days.'));
    }
  }

  private _api: PennyApi;
  private _title: HTMLElement;
  private _updated: HTMLElement;
  private _body: HTMLElement;
  private _chart: HTMLElement | null = null;
  private _data: IAdminOverview | null = null;
  private _resize: ResizeObserver;
}

// ------------------------------------------------------------------ helpers

/** [CSS class, legend label], bottom of the stack first. */
const SERIES: Array<[string, string]> = [
  ['penny-admin-ok', 'Succeeded'],
  ['penny-admin-err', 'Errors'],
  ['penny-admin-limited', 'Rate-limited']
];

function stacks(c: IUsageCounts): Array<[string, string, number]> {
  const values = [Math.max(0, c.calls - c.errors - c.rateLimited), c.errors, c.rateLimited];
  return SERIES.map(([cls, label], i) => [cls, label, values[i]]);
}

function sum(rows: IUsageCounts[]): IUsageCounts {
  return rows.reduce(
    (a, r) => ({ calls: a.calls + r.calls, errors: a.errors + r.errors, rateLimited: a.rateLimited + r.rateLimited }),
    { calls: 0, errors: 0, rateLimited: 0 }
  );
}

function countsText(c: IUsageCounts): string {
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return `${plural(c.calls, 'call', 'calls')}, ${plural(c.errors, 'error', 'errors')}, ${c.rateLimited} rate-limited`;
}

function numbers(c: IUsageCounts): number[] {
  return [c.calls, c.errors, c.rateLimited];
}

/** The smallest 1/2/5 × 10^k at or above `max`, divisible into 4 whole steps (at least 4). */
function niceMax(max: number): number {
  if (max <= 4) {
    return 4;
  }
  const mag = Math.pow(10, Math.floor(Math.log10(max / 4)));
  for (const f of [1, 2, 5, 10]) {
    if (4 * f * mag >= max) {
      return 4 * f * mag;
    }
  }
  return 40 * mag;
}

function shortDate(iso: string): string {
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString(undefined, {
    month: 'short',
    day: 'numeric',
    timeZone: 'UTC'
  });
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function section(title: string, className = ''): { node: HTMLElement; head: HTMLElement } {
  const node = el('section', `penny-admin-section ${className}`.trim());
  const head = el('div', 'penny-admin-section-head');
  head.append(el('h3', 'penny-admin-section-title', title));
  node.append(head);
  return { node, head };
}

function badge(text: string, kind: 'ok' | 'bad' | 'warn' | 'plain'): HTMLElement {
  const b = el('span', 'penny-admin-badge', text);
  b.dataset.kind = kind;
  return b;
}

function chainBadge(d: IAdminOverview): HTMLElement {
  const b = d.audit.verified
    ? badge('✓ chain verified', 'ok')
    : badge(`✗ chain broken at #${d.audit.firstBadId}`, 'bad');
  b.classList.add('penny-admin-chain-badge');
  return b;
}

function roleChips(roles: string[]): HTMLElement {
  const cell = el('span', 'penny-admin-roles');
  if (!roles.length) {
    cell.append(badge('not a member', 'warn'));
  }
  for (const r of roles) {
    cell.append(badge(r, 'plain'));
  }
  return cell;
}

function auditRow(e: IAuditEntry): Array<string | number | HTMLElement> {
  const outcome = badge(e.outcome, e.outcome === 'ok' ? 'ok' : e.outcome === 'rate_limited' ? 'warn' : 'bad');
  const hash = el('code', 'penny-admin-hash', e.hash.slice(0, 12));
  hash.title = e.hash;
  return [e.id, when(e.at), e.user, e.tool, outcome, Math.round(e.durationMs), e.rowCount ?? '–', hash];
}

type Cell = string | number | HTMLElement;

function table(headers: string[], rows: Cell[][], empty: string, rowClasses: string[] = []): HTMLElement {
  if (!rows.length) {
    return el('p', 'penny-admin-empty', empty);
  }
  const wrap = el('div', 'penny-admin-table-wrap');
  const t = el('table', 'penny-admin-table');
  // a column with any number in it is a numeric one: right-aligned, its dashes too
  const numeric = headers.map((_, i) => rows.some(r => typeof r[i] === 'number'));
  const head = el('tr');
  headers.forEach((h, i) => head.append(el('th', numeric[i] ? 'penny-num' : undefined, h)));
  t.createTHead().append(head);
  const body = t.createTBody();
  rows.forEach((cells, i) => {
    const tr = el('tr', rowClasses[i] || undefined);
    cells.forEach((c, j) => {
      const td = el('td', numeric[j] ? 'penny-num' : undefined);
      if (c instanceof HTMLElement) {
        td.append(c);
      } else {
        td.textContent = String(c);
      }
      tr.append(td);
    });
    body.append(tr);
  });
  wrap.append(t);
  return wrap;
}

function svgEl(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}
