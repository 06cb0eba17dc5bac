/**
 * The model picker in the sidebar header. The list comes from `GET penny/api/models`; the choice
 * is per conversation and kept in localStorage (conversation id -> model id). A conversation
 * nobody chose for uses the settings-registry default (`model`, "" = the server's default).
 * The panel sends `model` on each `message` frame of that conversation when it is not "".
 */
import { ISignal, Signal } from '@lumino/signaling';

import { PennyApi } from './api';
import { el } from './cards';
import type { IModelInfo, IModelList } from './protocol';

const CHOICES_KEY = 'penny-jupyter:conversation-models';
/** Oldest choices are dropped beyond this many conversations. */
const MAX_CHOICES = 300;

/** Per-conversation model choices in localStorage ("" = the server's default). */
export class ModelChoices {
  get(conversationId: string): string | undefined {
    return this._load()[conversationId];
  }

  set(conversationId: string, model: string): void {
    const all = this._load();
    delete all[conversationId]; // re-insert: the newest goes last
    all[conversationId] = model;
    const ids = Object.keys(all);
    for (const id of ids.slice(0, Math.max(0, ids.length - MAX_CHOICES))) {
      delete all[id];
    }
    try {
      window.localStorage.setItem(CHOICES_KEY, JSON.stringify(all));
    } catch {
      // Storage full or blocked: the choice lasts for this page only.
    }
    this._memory = all;
  }

  private _load(): Record<string, string> {
    try {
      const raw = window.localStorage.getItem(CHOICES_KEY);
      const value = raw ? JSON.parse(raw) : {};
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return value as Record<string, string>;
      }
    } catch {
      // Unreadable: fall back to what this page remembers.
    }
    return { ...this._memory };
  }

  private _memory: Record<string, string> = {};
}

export class ModelPicker {
  constructor(private _api: PennyApi) {
    this.node = el('div', 'penny-model');
    this._select = el('select', 'penny-model-select');
    this._select.setAttribute('aria-label', 'Model for this conversation');
    this._select.addEventListener('change', () => this._onChange());
    this._caption = el('div', 'penny-model-reason');
    this._caption.id = 'penny-model-reason';
    this._select.setAttribute('aria-describedby', this._caption.id);
    this.node.append(this._select);
    this.node.hidden = true;
  }

  /** The select (goes in the title row). */
  readonly node: HTMLElement;

  /** One line under the title row, shown when the chosen model cannot answer (its reason). */
  get caption(): HTMLElement {
    return this._caption;
  }

  /** The models list changed, or the conversation's choice did. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The list from the server, once loaded. */
  get list(): IModelList | null {
    return this._list;
  }

  /** The model chosen for the current conversation; "" = the server's default. */
  get model(): string {
    return this._choice;
  }

  /** From the settings registry: the model a conversation without a choice uses. */
  set defaultModel(value: string) {
    const next = typeof value === 'string' ? value.trim() : '';
    if (next === this._default) {
      return;
    }
    this._default = next;
    if (this._conversationId && this._choices.get(this._conversationId) === undefined) {
      this._choice = next;
      this._render();
    }
  }

  /** The conversation now shown: restore its own choice. */
  setConversation(conversationId: string | null): void {
    this._conversationId = conversationId;
    const stored = conversationId ? this._choices.get(conversationId) : undefined;
    this._choice = stored ?? this._default;
    this._render();
  }

  /** The label for a model id ("" = the server's default). */
  labelFor(id: string): string {
    const known = this._list?.models.find(m => m.id === id);
    return known?.label ?? id;
  }

  /** Fetch the list again (panel shown, socket reconnected). Concurrent calls share one request. */
  refresh(): Promise<void> {
    if (!this._pending) {
      this._pending = this._api
        .listModels()
        .then(list => {
          this._list = normalize(list);
          this._error = '';
        })
        .catch(err => {
          this._error = `Could not load models: ${(err as Error).message ?? err}`;
        })
        .then(() => {
          this._pending = null;
          this._render();
        });
    }
    return this._pending;
  }

  private _onChange(): void {
    const value = this._select.value;
    this._choice = value;
    if (this._conversationId) {
      this._choices.set(this._conversationId, value);
    }
    this._render();
  }

  private _render(): void {
    const list = this._list;
    const choice = this._choice;
    this.node.hidden = list === null && !choice;

    const options: HTMLOptionElement[] = [];
    const activeLabel = list ? this.labelFor(list.active) : '';
    const dflt = option('', activeLabel ? `Default: ${activeLabel}` : 'Server default');
    dflt.title = list?.reason ?? 'The model the Penny server picks';
    options.push(dflt);
    for (const m of list?.models ?? []) {
      const opt = option(m.id, m.available ? m.label : `${m.label} (unavailable)`);
      opt.disabled = !m.available;
      opt.title = m.available ? m.label : m.reason || `${m.label} is not available right now.`;
      opt.dataset.available = String(m.available);
      options.push(opt);
    }
    if (choice && !list?.models.some(m => m.id === choice)) {
      // Chosen earlier, not offered now (or the list did not load): keep it visible.
      const opt = option(choice, list ? `${choice} (not offered)` : choice);
      options.push(opt);
    }
    this._select.replaceChildren(...options);
    this._select.value = choice;

    const chosen = list?.models.find(m => m.id === choice);
    let caption: string;
    let state: string;
    if (!choice) {
      caption = list?.reason ?? this._error;
      state = 'default';
    } else if (chosen && !chosen.available) {
      caption = chosen.reason || `${chosen.label} is not available right now.`;
      state = 'unavailable';
    } else if (list && !chosen) {
      caption = `${choice} is not offered by the server now.`;
      state = 'unavailable';
    } else {
      caption = `Picked for this chat: ${this.labelFor(choice)}`;
      state = 'chosen';
    }
    this.node.dataset.state = state;
    this._caption.dataset.state = state;
    this._caption.textContent = caption;
    this._caption.title = caption;
    // Only a choice that cannot answer gets a visible line (the person has to act on it). Why the server's
    // default answers ("Ollama is not running at … (ConnectError)") is a diagnostic: the select's tooltip.
    this._caption.hidden = !caption || this.node.hidden || state !== 'unavailable';
    this._select.title = caption ? `${this._selectedText()} · ${caption}` : this._selectedText();
    this._changed.emit();
  }

  private _selectedText(): string {
    return this._select.selectedOptions[0]?.textContent ?? '';
  }

  private _select: HTMLSelectElement;
  private _caption: HTMLElement;
  private _choices = new ModelChoices();
  private _conversationId: string | null = null;
  private _choice = '';
  private _default = '';
  private _list: IModelList | null = null;
  private _error = '';
  private _pending: Promise<void> | null = null;
  private _changed = new Signal<this, void>(this);
}

function option(value: string, text: string): HTMLOptionElement {
  const opt = el('option', undefined, text);
  opt.value = value;
  return opt;
}

/** Accept what the server sends, dropping malformed entries. */
function normalize(list: IModelList): IModelList {
  const models: IModelInfo[] = Array.isArray(list?.models)
    ? list.models
        .filter(m => m && typeof m.id === 'string')
        .map(m => ({
          id: m.id,
          label: typeof m.label === 'string' && m.label ? m.label : m.id,
          available: m.available !== false,
          reason: typeof m.reason === 'string' ? m.reason : undefined
        }))
    : [];
  return {
    active: typeof list?.active === 'string' ? list.active : '',
    reason: typeof list?.reason === 'string' ? list.reason : '',
    models
  };
}
