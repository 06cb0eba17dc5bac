/**
 * Sharing and signed links, for artifact cards and conversations: a compact share panel
 * ("Share with my team" + colleagues' usernames, and who it is shared with now) and the box
 * that shows a signed download link with its expiry. Server text only goes in through
 * textContent or an input's value; links are checked to be http(s) before they are shown.
 */
import { el } from './dom';
import type { ISharing, ISignedLink } from './protocol';

/** What the server says about who may see a thing (all optional: older servers send none). */
export interface IShareState {
  owner?: string;
  sharing?: ISharing;
  canShare?: boolean;
}

export function normalizeSharing(sharing: Partial<ISharing> | null | undefined): ISharing {
  const users = Array.isArray(sharing?.users)
    ? sharing!.users.filter(u => typeof u === 'string' && u.trim()).map(u => u.trim())
    : [];
  return { tenant: !!sharing?.tenant, users };
}

export function isShared(sharing: ISharing | undefined): boolean {
  return !!sharing && (sharing.tenant || sharing.users.length > 0);
}

/** "alice, @bob  carol," -> ["alice", "bob", "carol"] (order kept, duplicates dropped). */
export function parseUsers(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[,;\s]+/)) {
    const name = part.trim().replace(/^@/, '');
    if (name) {
      seen.add(name);
    }
  }
  return [...seen];
}

function audience(sharing: ISharing): string {
  if (sharing.tenant && sharing.users.length) {
    return `your team and with ${sharing.users.join(', ')}`;
  }
  return sharing.tenant ? 'everyone in your team' : sharing.users.join(', ');
}

/**
 * One sentence: who sees it now (and who may change that). `via`: the sharing of the artifact's
 * conversation, which lets the same people see every artifact made in it.
 */
export function describeSharing(
  state: IShareState,
  me: string | null,
  via?: ISharing | null
): string {
  const sharing = normalizeSharing(state.sharing);
  const owner = state.owner && state.owner !== me ? state.owner : null;
  const viaShared = !!via && isShared(via);
  let text: string;
  if (isShared(sharing)) {
    text = `Shared with ${audience(sharing)}.`;
    if (viaShared) {
      text += ` Its conversation is shared with ${audience(via!)} too.`;
    }
  } else if (viaShared) {
    text = `Not shared on its own, but its conversation is shared with ${audience(via!)}, who can see it.`;
  } else {
    text = `Private: only ${owner ?? 'you'} can see it.`;
  }
  if (owner && (isShared(sharing) || viaShared)) {
    text = `${owner} shared this. ${text}`;
  }
  if (state.canShare === false) {
    text += ` Only ${owner ?? 'its owner'} can change who sees it.`;
  }
  return text;
}

/** `expires 20 Nov 2026, 14:05` in the browser's time zone (or the raw text if unparsable). */
export function formatExpiry(iso: string | undefined): string {
  if (!iso) {
    return 'no expiry given';
  }
  const when = new Date(iso);
  if (isNaN(when.getTime())) {
    return `expires ${iso}`;
  }
  return `expires ${when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}`;
}

/** The link as an absolute URL, or an Error when it is not something a browser should open. */
export function resolveLink(url: string): string {
  let resolved: URL;
  try {
    resolved = new URL(url, window.location.href);
  } catch {
    throw new Error('The server sent a link this page cannot read.');
  }
  if (resolved.protocol !== 'https:' && resolved.protocol !== 'http:') {
    throw new Error('The server sent a link that is not a web address.');
  }
  return resolved.href;
}

/** Copy to the clipboard when the page may; false when it may not (the user copies by hand). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (!window.isSecureContext || !navigator.clipboard?.writeText) {
      return false;
    }
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // permission denied or the page lost focus
  }
}

// ---------------------------------------------------------------- share panel

export interface ISharePanelOptions {
  /** "artifact" or "conversation": only in labels. */
  what: string;
  /** Store the new sharing; resolves to what the server stored. */
  save(sharing: ISharing): Promise<ISharing>;
  /** The signed-in user, to say "you" rather than a name. */
  currentUser?: () => string | null;
  /** Sharing it inherits (an artifact's conversation), said in the status line. */
  via?: () => ISharing | null;
  /** Escape was pressed in the panel. */
  onClose?(): void;
  /** After a save the server accepted. */
  onSaved?(sharing: ISharing): void;
}

/**
 * "Share with my team" (saved as soon as it is ticked), colleagues' usernames (saved with Enter
 * or Save), and a line saying who sees it now. Disabled when `canShare` is false.
 */
export class SharePanel {
  constructor(private _options: ISharePanelOptions) {
    const node = (this.node = el('div', 'penny-share'));
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', `Share this ${_options.what}`);

    const team = el('label', 'penny-share-team');
    this._tenant.type = 'checkbox';
    team.append(this._tenant, el('span', '', 'Share with my team'));
    this._tenant.addEventListener('change', () => void this._save());

    const row = el('div', 'penny-share-users-row');
    const label = el('label', 'penny-share-users-label', 'Colleagues');
    this._users.id = `penny-share-users-${++SharePanel._count}`;
    label.htmlFor = this._users.id;
    this._users.type = 'text';
    this._users.placeholder = 'usernames, e.g. alice, bob';
    this._users.setAttribute('aria-label', 'Colleagues to share with (usernames, comma-separated)');
    this._users.spellcheck = false;
    this._users.autocomplete = 'off';
    this._users.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        event.stopPropagation();
        void this._save();
      }
    });
    this._users.addEventListener('input', () => this._renderDirty());
    this._saveButton.type = 'button';
    this._saveButton.title = 'Save the list of colleagues';
    this._saveButton.addEventListener('click', () => void this._save());
    row.append(label, this._users, this._saveButton);

    this._status.setAttribute('aria-live', 'polite');
    this._error.setAttribute('role', 'alert');
    this._error.hidden = true;
    node.append(team, row, this._status, this._error);
    node.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this._options.onClose) {
        event.preventDefault();
        event.stopPropagation();
        this._options.onClose();
      }
    });
    this.setState({});
  }

  readonly node: HTMLElement;

  get state(): IShareState {
    return this._state;
  }

  setState(state: IShareState): void {
    // Someone typing a list keeps it; otherwise the input shows what is stored.
    const keepTyped = document.activeElement === this._users && this._dirty();
    this._state = { ...state, sharing: normalizeSharing(state.sharing) };
    const sharing = this._state.sharing!;
    this._tenant.checked = sharing.tenant;
    if (!keepTyped) {
      this._users.value = sharing.users.join(', ');
    }
    this.node.dataset.shared = String(isShared(sharing));
    this._render();
  }

  focus(): void {
    (this._tenant.disabled ? this._status : this._tenant).focus();
  }

  private async _save(): Promise<void> {
    if (this._saving || this._state.canShare === false) {
      return;
    }
    const wanted: ISharing = { tenant: this._tenant.checked, users: parseUsers(this._users.value) };
    this._saving = true;
    this._showError('');
    this._render();
    try {
      const stored = normalizeSharing(await this._options.save(wanted));
      this._users.value = stored.users.join(', ');
      this.setState({ ...this._state, sharing: stored });
      this._options.onSaved?.(stored);
    } catch (err) {
      this._tenant.checked = !!this._state.sharing?.tenant; // back to what is stored
      this._showError((err as Error)?.message ?? String(err));
    } finally {
      this._saving = false;
      this._render();
    }
  }

  /** The typed list differs from the stored one. */
  private _dirty(): boolean {
    const stored = this._state?.sharing?.users ?? [];
    const typed = parseUsers(this._users.value);
    return typed.length !== stored.length || typed.some((u, i) => u !== stored[i]);
  }

  private _renderDirty(): void {
    this._saveButton.disabled = this._saving || this._state.canShare === false || !this._dirty();
  }

  private _render(): void {
    const locked = this._state.canShare === false;
    this._tenant.disabled = locked || this._saving;
    this._users.disabled = locked || this._saving;
    this.node.dataset.busy = String(this._saving);
    this._status.textContent = this._saving
      ? 'Saving…'
      : describeSharing(
          this._state,
          this._options.currentUser?.() ?? null,
          this._options.via?.() ?? null
        );
    this._renderDirty();
  }

  private _showError(message: string): void {
    this._error.textContent = message;
    this._error.hidden = !message;
  }

  private static _count = 0;
  private _state: IShareState = {};
  private _saving = false;
  private _tenant = el('input', 'penny-share-tenant');
  private _users = el('input', 'penny-share-users');
  private _saveButton = el('button', 'penny-artifact-action penny-share-save', 'Save');
  private _status = el('div', 'penny-share-status');
  private _error = el('div', 'penny-share-error');
}

// ---------------------------------------------------------------- signed link

export const LINK_FORMATS = ['html', 'csv', 'json'] as const;
export type LinkFormat = (typeof LINK_FORMATS)[number];

/** Tables are wanted as data; everything else (dashboards, charts, documents) as a page. */
export function defaultLinkFormat(type: string | undefined): LinkFormat {
  return type === 'table' ? 'csv' : 'html';
}

export interface ILinkBoxOptions {
  /** Ask the server for a link in `format`. */
  create(format: LinkFormat): Promise<ISignedLink>;
  /** A request failed: show it where the card shows its errors. */
  onError(err: unknown): void;
}

/**
 * A signed link: a read-only input holding the URL (selected on focus, so it can be copied by
 * hand), Copy, a format picker that asks for a new link, and "expires <local time>".
 */
export class LinkBox {
  constructor(private _options: ILinkBoxOptions) {
    const node = (this.node = el('div', 'penny-link'));
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', 'Signed download link');
    this.node.hidden = true;

    this._url.type = 'text';
    this._url.readOnly = true;
    this._url.setAttribute('aria-label', 'Download link (anyone with it can download until it expires)');
    this._url.addEventListener('focus', () => this._url.select());
    this._copy.type = 'button';
    this._copy.title = 'Copy the link to the clipboard';
    this._copy.addEventListener('click', async () => {
      this._note(await copyText(this._url.value) ? 'Copied.' : 'Select the link and copy it.');
      this._url.focus();
    });
    const row = el('div', 'penny-link-row');
    row.append(this._url, this._copy);

    this._format.setAttribute('aria-label', 'Link format');
    this._format.title = 'Make a new link in another format';
    for (const f of LINK_FORMATS) {
      const option = el('option', '', f.toUpperCase());
      option.value = f;
      this._format.append(option);
    }
    this._format.addEventListener('change', () => void this.request(this._format.value as LinkFormat));
    this._close.type = 'button';
    this._close.title = 'Hide the link (it stays valid until it expires)';
    this._close.setAttribute('aria-label', 'Hide the link');
    this._close.addEventListener('click', () => {
      this.node.hidden = true;
    });
    const meta = el('div', 'penny-link-meta');
    this._copied.setAttribute('aria-live', 'polite');
    meta.append(this._format, this._expires, this._copied, this._close);
    node.append(row, meta);
  }

  readonly node: HTMLElement;

  /** The link shown now (absolute), or null. */
  get url(): string | null {
    return this.node.hidden || !this._url.value ? null : this._url.value;
  }

  /** Ask for a link, show it, and copy it when the page may. Errors go to `onError`. */
  async request(format: LinkFormat): Promise<void> {
    this._format.value = format;
    this._format.disabled = true;
    try {
      const link = await this._options.create(format);
      const href = resolveLink(String(link?.url ?? ''));
      this._url.value = href;
      this.node.dataset.format = String(link.format || format);
      this._expires.textContent = formatExpiry(link.expiresAt);
      this._expires.title = link.expiresAt ?? '';
      this._expires.dateTime = link.expiresAt ?? '';
      this.node.hidden = false;
      const copied = await copyText(href);
      this._note(copied ? 'Copied.' : '');
    } catch (err) {
      this._options.onError(err);
    } finally {
      this._format.disabled = false;
    }
  }

  private _note(text: string): void {
    this._copied.textContent = text;
  }

  private _url = el('input', 'penny-link-url');
  private _copy = el('button', 'penny-artifact-action penny-link-copy', 'Copy');
  private _format = el('select', 'penny-link-format');
  private _expires = el('time', 'penny-link-expires');
  private _copied = el('span', 'penny-link-copied');
  private _close = el('button', 'penny-link-close', '×');
}
