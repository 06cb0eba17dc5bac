/**
 * Number and date formatting for the spec's formats, matching `format_number` in
 * penny_jupyter/artifacts/spec.py (currency_compact, percent_N, integer, hours_N, count, text, date).
 */

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function grouped(v: number, decimals: number): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function formatNumber(value: unknown, fmt = 'text'): string {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) {
    return '—';
  }
  if (fmt === 'text' || fmt === 'date' || typeof value !== 'number') {
    if (fmt === 'date' && typeof value === 'string') {
      return formatDate(value);
    }
    return typeof value === 'string' ? value : String(value);
  }
  const [kind, digits] = splitFormat(fmt);
  const decimals = digits ?? 1;
  if (kind === 'currency') {
    const sign = value < 0 ? '-' : '';
    const v = Math.abs(value);
    for (const [limit, suffix] of [
      [1e9, 'B'],
      [1e6, 'M'],
      [1e3, 'K']
    ] as const) {
      if (v >= limit) {
        return `${sign}$${grouped(v / limit, 2)}${suffix}`;
      }
    }
    return `${sign}$${grouped(v, 0)}`;
  }
  if (kind === 'percent') {
    return `${(value * 100).toFixed(decimals)}%`;
  }
  if (kind === 'change') {
    // a change already in percent: 2.85 -> "▲ 2.9%"
    return `${value > 0 ? '▲' : value < 0 ? '▼' : '■'} ${Math.abs(value).toFixed(decimals)}%`;
  }
  if (kind === 'hours') {
    return `${grouped(value, decimals)} h`;
  }
  if (kind === 'integer' || kind === 'count') {
    return grouped(value, 0);
  }
  return Number.isInteger(value) ? grouped(value, 0) : grouped(value, 2);
}

function splitFormat(fmt: string): [string, number | null] {
  const i = fmt.indexOf('_');
  if (i < 0) {
    return [fmt, null];
  }
  const digits = fmt.slice(i + 1);
  return [fmt.slice(0, i), /^\d+$/.test(digits) ? parseInt(digits, 10) : null];
}

/** True when a column of this format holds numbers (right-aligned, numeric sort). */
export function isNumericFormat(fmt: string | undefined): boolean {
  return !!fmt && fmt !== 'text' && fmt !== 'date';
}

const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit'
});

function parse(iso: string): Date | null {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDate(iso: string): string {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? parse(iso + 'T00:00:00') : parse(iso);
  return d ? dateFmt.format(d) : iso;
}

export function formatDateTime(iso: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) {
    return formatDate(iso);
  }
  const d = parse(iso);
  return d ? dateTimeFmt.format(d) : iso;
}

const monthDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** "Nov 1 – Nov 25, 2026" (the year once when both ends share it). */
export function formatRange(a: string, b: string): string {
  const da = /^\d{4}-\d{2}-\d{2}$/.test(a) ? parse(a + 'T00:00:00') : parse(a);
  const db = /^\d{4}-\d{2}-\d{2}$/.test(b) ? parse(b + 'T00:00:00') : parse(b);
  if (!da || !db) {
    return `${a} – ${b}`;
  }
  const first = da.getFullYear() === db.getFullYear() ? monthDay.format(da) : dateFmt.format(da);
  return `${first} – ${dateFmt.format(db)}`;
}
