/**
 * The Penny sidebar: header (status), conversation list, thread, composer. It only wires the
 * parts together: the socket delivers events, the thread draws them, the list owns which
 * conversation is shown, the composer sends.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { settingsIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { PennyApi } from './api';
import { IArtifactActions, el } from './cards';
import { ConversationList, IActiveConversation } from './conversations';
import { pennyIcon } from './icon';
import { ModelPicker } from './models';
import { ClientFrame, ServerEvent, newId } from './protocol';
import { IConnectionStatus, PennySocket } from './socket';
import { Thread } from './thread';

const EXAMPLE_PROMPTS = [
  'Show me company KPIs for this month',
  'Open the company health dashboard'
];

/** Characters of an attached notebook cell (protocol.MessageFrame.context allows this many). */
const MAX_CONTEXT = 20_000;

export interface IPanelOptions {
  socket: PennySocket;
  api: PennyApi;
  rendermime: IRenderMimeRegistry | null;
  actions: IArtifactActions;
  onInsertCode: (code: string) => void;
  onInsertMarkdown?: (text: string) => void;
  /** The gear: Penny's settings (Settings → Penny). */
  openSettings?: () => void;
  /** The active notebook's cell (its selection, else its source) to attach to a question, if any. */
  notebookContext?: () => INotebookContext | null;
}

export interface INotebookContext {
  /** "analysis.ipynb, cell 3" or "… (selection)". */
  label: string;
  text: string;
}

export class PennyPanel extends Widget {
  constructor(options: IPanelOptions) {
    super();
    this._socket = options.socket;
    this.id = 'penny-chat';
    this.addClass('penny-panel');
    this.title.icon = pennyIcon;
    this.title.caption = 'Penny';

    // Header: title, New chat, connection status.
    const header = el('div', 'penny-header');
    const titleRow = el('div', 'penny-title-row');
    const newButton = el('button', 'penny-new', 'New chat');
    newButton.type = 'button';
    newButton.title = 'Start a new conversation';
    newButton.addEventListener('click', () => {
      this.conversations.newDraft();
      this._input.focus();
    });
    this.models = new ModelPicker(options.api);
    titleRow.append(el('h2', 'penny-title', 'Penny'), this.models.node, newButton);
    if (options.openSettings) {
      const gear = el('button', 'penny-settings');
      gear.type = 'button';
      gear.title = 'Penny settings';
      gear.setAttribute('aria-label', 'Penny settings');
      gear.append(settingsIcon.element({ tag: 'span' }));
      gear.addEventListener('click', () => options.openSettings!());
      titleRow.append(gear);
    }
    this._status = el('div', 'penny-status');
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    this._statusText = el('span', 'penny-conn-text');
    this._retryButton = el('button', 'penny-retry', 'Retry now');
    this._retryButton.type = 'button';
    this._retryButton.addEventListener('click', () => this._socket.connect());
    this._status.append(el('span', 'penny-conn-dot'), this._statusText, this._retryButton);
    header.append(titleRow, this.models.caption, this._status);

    this.conversations = new ConversationList(options.api, () => options.actions.currentUser());
    this.thread = new Thread({
      rendermime: options.rendermime,
      actions: options.actions,
      onInsertCode: options.onInsertCode,
      onInsertMarkdown: options.onInsertMarkdown,
      empty: this._makeEmptyState(),
      onSuggestion: text => this.sendMessage(text)
    });

    // Composer.
    const composer = el('div', 'penny-composer');
    this._input = el('textarea', 'penny-input');
    this._input.rows = 2;
    this._input.placeholder = 'Ask Penny…';
    this._input.setAttribute('aria-label', 'Message Penny');
    this._input.addEventListener('keydown', this._onKeyDown);
    this._input.addEventListener('input', () => this._autosize());
    this._send = el('button', 'penny-send jp-mod-styled jp-mod-accept', 'Send');
    this._send.type = 'button';
    this._send.addEventListener('click', () => this.sendMessage());
    this._stop = el('button', 'penny-stop jp-mod-styled jp-mod-warn', 'Stop');
    this._stop.type = 'button';
    this._stop.title = 'Stop this answer';
    this._stop.hidden = true;
    this._stop.addEventListener('click', () => this.stop());
    this._reason = el('div', 'penny-input-reason');
    this._reason.id = 'penny-input-reason';
    this._input.setAttribute('aria-describedby', this._reason.id);
    this._hint = el('div', 'penny-input-hint');
    const row = el('div', 'penny-composer-row');
    row.append(this._input, this._stop, this._send);
    // "Ask about: analysis.ipynb, cell 3": off by default, offered while a notebook cell is active.
    this._contextSource = options.notebookContext ?? (() => null);
    this._contextBox = el('input', 'penny-context-toggle');
    this._contextBox.type = 'checkbox';
    this._contextBox.id = 'penny-context-toggle';
    this._contextLabel = el('label', 'penny-context-label');
    this._contextLabel.htmlFor = this._contextBox.id;
    this._context = el('div', 'penny-context');
    this._context.append(this._contextBox, this._contextLabel);
    this._input.addEventListener('focus', () => this._renderContext());
    composer.append(row, this._context, this._reason, this._hint);
    this._renderContext();

    this.node.append(header, this.conversations.node, this.thread.node, composer);

    this._socket.statusChanged.connect((_, s) => this._onStatus(s), this);
    this.models.changed.connect(() => this._renderStatus(this._socket.status), this);
    this._socket.received.connect(this._onEvent, this);
    this.conversations.activeChanged.connect((_, a) => this._onActive(a), this);
    this.conversations.refreshed.connect(() => this.thread.renderSharing(), this);
    this.thread.busyChanged.connect(() => this._renderComposer(), this);
    this._renderStatus(this._socket.status);
  }

  readonly conversations: ConversationList;
  readonly models: ModelPicker;
  readonly thread: Thread;

  get conversationId(): string | null {
    return this.conversations.active?.id ?? null;
  }

  /** The model a new conversation starts with ("" = the server's default); from the settings registry. */
  set defaultModel(value: string) {
    this.models.defaultModel = value;
  }

  /** Enter sends (Shift+Enter is a newline); from the settings registry. */
  set sendOnEnter(value: boolean) {
    this._sendOnEnter = value;
    this._renderComposer();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopCountdown();
    this.thread.reset(null);
    super.dispose();
  }

  /** Send the input's text (or `text`); queued while reconnecting. */
  sendMessage(text?: string): boolean {
    const content = (text ?? this._input.value).trim();
    const conversationId = this.conversationId;
    if (!content || !conversationId || !this._canSend()) {
      return false;
    }
    const clientMessageId = newId('c');
    const frame: ClientFrame = { type: 'message', content, conversationId, clientMessageId };
    const attached = this._contextBox.checked && text === undefined ? this._contextSource() : null;
    if (attached?.text.trim()) {
      frame.context = attached.text.slice(0, MAX_CONTEXT); // the server's limit: a longer cell is cut, not refused
    }
    const model = this.models.model;
    if (model) {
      frame.model = model; // omitted = the server's default
    }
    const result = this._socket.send(frame);
    if (result === 'dropped') {
      return false;
    }
    this.conversations.markStarted(conversationId);
    this.thread.addPendingUser(content, clientMessageId, result === 'queued', frame.context ? attached!.label : '');
    if (text === undefined) {
      this._input.value = '';
      this._autosize();
    }
    return true;
  }

  /** Ask the server to stop the running answer. */
  stop(): void {
    const conversationId = this.conversationId;
    if (conversationId && this.thread.busy) {
      this._socket.send({ type: 'cancel', conversationId });
      this.thread.markStopping();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.models.refresh();
    this.conversations.revealActive();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this._input.disabled) {
      this._input.focus();
    }
  }

  // ---------------------------------------------------------------- wiring

  private _onActive(active: IActiveConversation): void {
    const previous = this.thread.conversationId;
    if (previous && previous !== active.id) {
      this._socket.unfollow(previous);
    }
    this.thread.reset(active.id);
    this.models.setConversation(active.id);
    // Existing conversations are rebuilt from the server's event log (resume afterSeq 0).
    this._socket.follow(active.id, !active.draft);
    // Replayed `artifact` events carry their sharing as it is now, for this reader (ChatService.resume).
    this._renderComposer();
  }

  private _onEvent(_: PennySocket, event: ServerEvent): void {
    this.thread.handle(event);
    const cid = event.conversationId;
    if (!cid) {
      return;
    }
    // Titles, order and new conversations come from the server: refresh when they change.
    if (
      (event.type === 'message.created' && event.message?.role === 'user' && !this._listed(cid)) ||
      event.type === 'assistant.done'
    ) {
      this._refreshSoon();
    }
  }

  /** One list refresh for a burst of events (a replayed thread has many `assistant.done`). */
  private _refreshSoon(): void {
    if (this._refreshTimer === null) {
      this._refreshTimer = window.setTimeout(() => {
        this._refreshTimer = null;
        void this.conversations.refresh();
      }, 250);
    }
  }

  private _listed(cid: string): boolean {
    return this.conversations.has(cid) && this.conversations.active?.draft !== true;
  }

  // ---------------------------------------------------------------- status

  private _canSend(): boolean {
    const s = this._socket.status;
    // While reconnecting after a good connection, messages queue and go out on reconnect.
    return s.state === 'connected' || (s.state === 'reconnecting' && s.everConnected);
  }

  private _onStatus(status: IConnectionStatus): void {
    // A new `ready` (first connect or a reconnect): the models on offer may have changed.
    if (status.ready && status.ready !== this._lastReady) {
      void this.models.refresh();
    }
    this._lastReady = status.ready;
    this._renderStatus(status);
  }

  private _renderStatus(status: IConnectionStatus): void {
    const { state, ready } = status;
    this._status.dataset.state = state;
    this.node.dataset.state = state;
    const secs =
      status.retryAt !== null
        ? Math.max(1, Math.ceil((status.retryAt - Date.now()) / 1000))
        : null;
    let text: string;
    let reason = '';
    if (state === 'connected' && ready) {
      // The model that answers: this conversation's choice, else the server's default.
      text = `Connected as ${ready.user} · tenant ${ready.tenant} · model ${this.models.model || ready.model}`;
    } else if (state === 'connecting') {
      text = 'Connecting…';
      reason = 'Waiting for the Penny server; you can type once connected.';
    } else if (state === 'reconnecting') {
      text = secs !== null ? `Reconnecting in ${secs} s…` : 'Reconnecting…';
      reason =
        status.queued > 0
          ? `${status.queued} message(s) will be sent once reconnected.`
          : 'Connection lost; what you send now goes out once reconnected.';
    } else {
      text = `Offline${secs !== null ? ` · retrying in ${secs} s` : ''}`;
      reason = `Not connected to the Penny server${status.reason ? `: ${status.reason}` : ''}.`;
    }
    this._statusText.textContent = text;
    this._status.title =
      state === 'connected' && ready?.modelReason && !this.models.model
        ? `${text}\n${ready.modelReason}`
        : text;
    this._retryButton.hidden = state === 'connected' || state === 'connecting';
    this._reasonText = reason;
    if (state === 'connected') {
      this.thread.markSent();
    }
    if (status.retryAt !== null) {
      this._startCountdown();
    } else {
      this._stopCountdown();
    }
    this._renderComposer();
  }

  /** Offer the active cell (named) when there is one; the choice stays until the person unticks it. */
  private _renderContext(): void {
    const ctx = this._contextSource();
    this._context.hidden = !ctx;
    this._contextLabel.textContent = ctx ? `Ask about ${ctx.label}` : '';
    this._contextLabel.title = ctx ? ctx.text.slice(0, 500) : '';
  }

  private _renderComposer(): void {
    const disabled = !this._canSend();
    this._input.disabled = disabled;
    this._send.disabled = disabled;
    this._reason.textContent = this._reasonText;
    this._reason.hidden = !this._reasonText;
    this._hint.textContent = this._sendOnEnter
      ? 'Enter to send · Shift+Enter for a new line'
      : 'Ctrl+Enter to send';
    this._hint.hidden = disabled;
    const busy = this.thread.busy;
    // Stop takes Send's place while an answer streams: the input keeps its width.
    this._stop.hidden = !busy;
    this._send.hidden = busy;
    this.node.dataset.busy = String(busy);
    for (const b of this.node.querySelectorAll<HTMLButtonElement>('.penny-example, .penny-suggestion')) {
      b.disabled = disabled;
    }
  }

  /** Keep "in N s" current while a retry is scheduled. */
  private _startCountdown(): void {
    if (this._countdown === null) {
      this._countdown = window.setInterval(() => this._renderStatus(this._socket.status), 1000);
    }
  }

  private _stopCountdown(): void {
    if (this._countdown !== null) {
      window.clearInterval(this._countdown);
      this._countdown = null;
    }
  }

  private _makeEmptyState(): HTMLElement {
    const node = el('div', 'penny-empty-state');
    node.append(
      el('p', 'penny-empty-lead', 'Ask Penny about your company’s data.'),
      el('p', 'penny-empty-hint', 'Answers stream in here; dashboards and charts show up as cards you can insert into a notebook.')
    );
    for (const prompt of EXAMPLE_PROMPTS) {
      const example = el('button', 'penny-example', prompt);
      example.type = 'button';
      example.addEventListener('click', () => this.sendMessage(prompt));
      node.append(example);
    }
    return node;
  }

  // ---------------------------------------------------------------- input

  private _onKeyDown = (event: KeyboardEvent): void => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) {
      return;
    }
    const modifier = event.ctrlKey || event.metaKey;
    if (!this._sendOnEnter && !modifier) {
      return; // a plain newline
    }
    event.preventDefault();
    event.stopPropagation();
    this.sendMessage();
  };

  private _autosize(): void {
    const input = this._input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
  }

  private _socket: PennySocket;
  private _status: HTMLElement;
  private _statusText: HTMLElement;
  private _retryButton: HTMLButtonElement;
  private _contextSource: () => INotebookContext | null;
  private _contextBox: HTMLInputElement;
  private _contextLabel: HTMLLabelElement;
  private _context: HTMLElement;
  private _input: HTMLTextAreaElement;
  private _send: HTMLButtonElement;
  private _stop: HTMLButtonElement;
  private _reason: HTMLElement;
  private _reasonText = '';
  private _hint: HTMLElement;
  private _countdown: number | null = null;
  private _sendOnEnter = true;
  private _refreshTimer: number | null = null;
  private _lastReady: IConnectionStatus['ready'] = null;
}
