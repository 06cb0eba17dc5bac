/**
 * The conversation list: loaded from REST (so a reload loses nothing), with new, rename,
 * share, delete and switch. "New chat" makes a local draft with a client-chosen id; the server
 * creates it on the first message (titled after that message), and the list refreshes then.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { deleteIcon, editIcon, shareIcon, usersIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';

import { PennyApi } from './api';
import { el } from './dom';
import { IConversation, ISharing, newId } from './protocol';
import { SharePanel, describeSharing, isShared, normalizeSharing } from './share';

const ACTIVE_KEY = 'penny-jupyter:active-conversation';
const DRAFT_TITLE = 'New conversation';

export interface IActiveConversation {
  id: string;
  /** Not on the server yet: nothing to replay. */
  draft: boolean;
}

/** More conversations than the list shows at once (four rows): a search box appears. */
const SEARCH_FROM = 4;

export class ConversationList {
  constructor(
    private _api: PennyApi,
    private _currentUser: () => string | null = () => null
  ) {
    this.node = el('div', 'penny-conversations');
    this.node.setAttribute('aria-label', 'Conversations');
    this._list = el('ul', 'penny-conversation-list');
    this._list.setAttribute('role', 'listbox');
    this._error = el('div', 'penny-conversations-error');
    this._error.hidden = true;
    this._search = el('input', 'penny-conversation-search');
    this._search.type = 'search';
    this._search.placeholder = 'Search conversations';
    this._search.setAttribute('aria-label', 'Search conversations by title');
    this._search.addEventListener('input', () => this._render());
    this.node.append(this._search, this._list, this._error);
  }

  readonly node: HTMLElement;

  get active(): IActiveConversation | null {
    return this._active;
  }

  get activeChanged(): ISignal<this, IActiveConversation> {
    return this._activeChanged;
  }

  /** After every refresh from the server (titles, order, sharing may have changed). */
  get refreshed(): ISignal<this, void> {
    return this._refreshed;
  }

  /** Who a listed conversation is shared with, or null when unknown. */
  sharingOf(id: string): ISharing | null {
    const conv = this._items.find(c => c.id === id);
    return conv?.sharing ? normalizeSharing(conv.sharing) : null;
  }

  /** First load: the conversation active before the reload, else the latest, else a draft. */
  async load(): Promise<void> {
    await this.refresh();
    const stored = window.localStorage.getItem(ACTIVE_KEY);
    const pick = this._items.find(c => c.id === stored) ?? this._items[0];
    if (pick) {
      this.select(pick.id);
    } else {
      this.newDraft();
    }
  }

  async refresh(): Promise<void> {
    try {
      this._items = await this._api.listConversations();
      this._showError('');
    } catch (err) {
      this._showError(`Could not load conversations: ${(err as Error).message}`);
    }
    // A draft that now exists on the server is a draft no longer.
    if (this._draft && this._items.some(c => c.id === this._draft!.id)) {
      if (this._active?.id === this._draft.id) {
        this._active = { id: this._draft.id, draft: false };
        window.localStorage.setItem(ACTIVE_KEY, this._draft.id);
      }
      this._draft = null;
    }
    this._render();
    this._refreshed.emit();
  }

  /** Whether `id` is known (listed or the draft). */
  has(id: string): boolean {
    return this._draft?.id === id || this._items.some(c => c.id === id);
  }

  /** Start a new conversation, unless the current one is already an empty draft. */
  newDraft(): void {
    if (this._draft && this._active?.id === this._draft.id) {
      if (!this._started.has(this._draft.id)) {
        return;
      }
      // Written in but not listed by the server yet: keep it in the list until the refresh does.
      this._items = [this._draft, ...this._items.filter(c => c.id !== this._draft!.id)];
      this._draft = null;
    }
    this._draft = { id: newId('conv'), title: DRAFT_TITLE };
    this._setActive({ id: this._draft.id, draft: true });
  }

  /** A message went out in `id`: the server will create it, so it is no longer an empty draft. */
  markStarted(id: string): void {
    if (this._draft?.id === id) {
      this._started.add(id);
      // the server creates it with this first message: a reload now comes back to it, not to the one before
      window.localStorage.setItem(ACTIVE_KEY, id);
    }
  }

  select(id: string): void {
    if (this._active?.id === id) {
      return;
    }
    if (this._draft?.id === id) {
      this._setActive({ id, draft: true });
      return;
    }
    if (this._draft) {
      if (this._started.has(this._draft.id)) {
        // Written in but not listed yet: keep it (the next refresh brings the server's row).
        this._items = [this._draft, ...this._items.filter(c => c.id !== this._draft!.id)];
      }
      this._draft = null; // leaving an empty draft discards it
    }
    this._setActive({ id, draft: false });
  }

  async rename(id: string): Promise<void> {
    const current = this._title(id);
    const result = await InputDialog.getText({
      title: 'Rename conversation',
      text: current,
      okLabel: 'Rename'
    });
    const title = result.value?.trim();
    if (!result.button.accept || !title || title === current) {
      return;
    }
    try {
      if (this._draft?.id === id) {
        await this._api.createConversation({ id, title });
      } else {
        await this._api.renameConversation(id, title);
      }
      this._showError('');
    } catch (err) {
      this._showError(`Could not rename: ${(err as Error).message}`);
    }
    await this.refresh();
  }

  async delete(id: string): Promise<void> {
    const result = await showDialog({
      title: 'Delete conversation?',
      body: `“${this._title(id)}” and its messages will be deleted. Artifacts already inserted into notebooks stay.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    if (this._draft?.id === id) {
      this._draft = null;
    } else {
      try {
        await this._api.deleteConversation(id);
      } catch (err) {
        this._showError(`Could not delete: ${(err as Error).message}`);
        return;
      }
    }
    await this.refresh();
    if (this._active?.id === id) {
      this._active = null;
      const next = this._items[0];
      if (next) {
        this.select(next.id);
      } else {
        this.newDraft();
      }
    }
  }

  /** Open (or close) the share panel under a conversation's row. */
  toggleShare(id: string): void {
    this._shareOpen = this._shareOpen === id ? null : id;
    this._render();
    if (this._shareOpen) {
      this._sharePanel.node.scrollIntoView({ block: 'nearest' });
      this._sharePanel.focus();
    }
  }

  private _setActive(active: IActiveConversation): void {
    this._active = active;
    if (!active.draft) {
      window.localStorage.setItem(ACTIVE_KEY, active.id);
    }
    this._render();
    this._activeChanged.emit(active);
  }

  private _title(id: string): string {
    if (this._draft?.id === id) {
      return this._draft.title;
    }
    return this._items.find(c => c.id === id)?.title ?? id;
  }

  private _render(): void {
    // Search filters by title; the draft and the open conversation always stay listed.
    const query = this._search.value.trim().toLowerCase();
    this._search.hidden = this._items.length <= SEARCH_FROM && !query;
    const rows = (this._draft ? [this._draft] : [])
      .concat(this._items)
      .filter(c => !query || c === this._draft || c.id === this._active?.id || c.title.toLowerCase().includes(query));
    const open = this._items.find(c => c.id === this._shareOpen && c.canShare !== undefined);
    if (!open) {
      this._shareOpen = null;
    }
    this._list.replaceChildren(
      ...rows.flatMap(c => {
        const row = this._row(c, c === this._draft);
        if (c !== open) {
          return [row];
        }
        // The panel survives re-renders (a refresh while it is open keeps what is typed).
        this._sharePanel.setState({ owner: c.owner, sharing: c.sharing, canShare: c.canShare });
        const holder = el('li', 'penny-conversation-share-row');
        holder.append(this._sharePanel.node);
        return [row, holder];
      })
    );
    this.revealActive();
  }

  /**
   * Bring a newly active conversation (picked, restored after a reload) into the list's view, once: later
   * refreshes leave the person's own scrolling alone. Also called when the panel is shown (a hidden list
   * cannot scroll).
   */
  revealActive(): void {
    const id = this._active?.id ?? null;
    const row = this._list.querySelector<HTMLElement>('.penny-mod-active');
    if (row && row.offsetParent !== null && id !== this._shownActive) {
      this._shownActive = id;
      row.scrollIntoView({ block: 'nearest' });
    }
  }

  private _row(conv: IConversation, draft: boolean): HTMLElement {
    const row = el('li', 'penny-conversation');
    row.dataset.conversationId = conv.id;
    row.setAttribute('role', 'option');
    const active = this._active?.id === conv.id;
    row.setAttribute('aria-selected', String(active));
    if (active) {
      row.classList.add('penny-mod-active');
    }
    if (draft) {
      row.dataset.draft = 'true';
    }
    const title = el('button', 'penny-conversation-title', conv.title || DRAFT_TITLE);
    title.type = 'button';
    title.title = conv.title;
    title.addEventListener('click', () => this.select(conv.id));
    row.append(title);
    if (!draft && isShared(normalizeSharing(conv.sharing))) {
      // Always visible: who else sees this conversation matters more than the row's tools.
      row.dataset.shared = 'true';
      const badge = el('span', 'penny-conversation-shared');
      badge.title = describeSharing(conv, this._currentUser());
      badge.setAttribute('aria-label', badge.title);
      badge.append(usersIcon.element());
      row.append(badge);
    }
    if (!draft && conv.canShare) {
      const share = iconButton('penny-conversation-share', 'Share', shareIcon.element(), () =>
        this.toggleShare(conv.id)
      );
      share.setAttribute('aria-expanded', String(this._shareOpen === conv.id));
      row.append(share);
    }
    row.append(
      iconButton('penny-conversation-rename', 'Rename', editIcon.element(), () => this.rename(conv.id)),
      iconButton('penny-conversation-delete', 'Delete', deleteIcon.element(), () => this.delete(conv.id))
    );
    return row;
  }

  private _showError(message: string): void {
    this._error.textContent = message;
    this._error.hidden = !message;
  }

  private _search: HTMLInputElement;
  private _shareOpen: string | null = null;
  private _shownActive: string | null = null;
  private _sharePanel = new SharePanel({
    what: 'conversation',
    save: sharing => this._api.shareConversation(this._shareOpen!, sharing),
    currentUser: () => this._currentUser(),
    onClose: () => {
      const id = this._shareOpen;
      this.toggleShare(id!);
      this._list
        .querySelector<HTMLElement>(`[data-conversation-id="${CSS.escape(id!)}"] .penny-conversation-share`)
        ?.focus();
    },
    onSaved: () => void this.refresh()
  });
  private _items: IConversation[] = [];
  private _draft: IConversation | null = null;
  /** Drafts a message was sent in (the server creates them on that message). */
  private _started = new Set<string>();
  private _active: IActiveConversation | null = null;
  private _list: HTMLElement;
  private _error: HTMLElement;
  private _activeChanged = new Signal<this, IActiveConversation>(this);
  private _refreshed = new Signal<this, void>(this);
}

function iconButton(
  className: string,
  label: string,
  icon: HTMLElement,
  onClick: () => void
): HTMLButtonElement {
  const b = el('button', `penny-icon-button ${className}`);
  b.type = 'button';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.append(icon);
  b.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return b;
}
