import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { pennyIcon } from './icon';
import { renderRichText } from './richtext';
import {
  IArtifact,
  IAssistantDeltaEvent,
  IMessageCreatedEvent,
  IToolFinishedEvent,
  IToolStartedEvent,
  ServerEvent,
  newId
} from './protocol';
import { IConnectionStatus, PennySocket } from './socket';

const EXAMPLE_PROMPT = 'Show me company KPIs for this month';
/** Distance from the bottom (px) within which new content keeps the thread pinned. */
const STICKY_PX = 48;

/** One assistant reply in the thread: tool lines, streamed text, artifact cards. */
interface ITurn {
  node: HTMLElement;
  tools: HTMLElement;
  text: HTMLElement;
  /** The assistant's text so far, as sent (deltas concatenated). */
  raw: string;
  artifacts: HTMLElement;
  messageId: string | null;
  done: boolean;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function formatDuration(ms: number | undefined): string {
  if (typeof ms !== 'number' || !isFinite(ms)) {
    return '';
  }
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function errorText(error: IToolFinishedEvent['error']): string {
  if (!error) {
    return '';
  }
  if (typeof error === 'string') {
    return error;
  }
  return error.message || error.code || '';
}

/**
 * The Penny chat sidebar. Server text is only ever set through `textContent`;
 * line breaks show through `white-space: pre-wrap`.
 */
export class PennyPanel extends Widget {
  constructor(options: { socket: PennySocket }) {
    super();
    this._socket = options.socket;
    this.id = 'penny-chat';
    this.addClass('penny-panel');
    this.title.icon = pennyIcon;
    this.title.caption = 'Penny';

    const header = el('div', 'penny-header');
    const titleRow = el('div', 'penny-title-row');
    const title = el('h2', 'penny-title', 'Penny');
    this._newButton = el('button', 'penny-new', 'New chat');
    this._newButton.type = 'button';
    this._newButton.title = 'Start a new conversation';
    this._newButton.addEventListener('click', () => this.newConversation());
    titleRow.append(title, this._newButton);

    this._status = el('div', 'penny-status');
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-live', 'polite');
    this._statusText = el('span', 'penny-status-text');
    this._retryButton = el('button', 'penny-retry', 'Retry now');
    this._retryButton.type = 'button';
    this._retryButton.addEventListener('click', () => this._socket.connect());
    this._status.append(el('span', 'penny-status-dot'), this._statusText, this._retryButton);
    header.append(titleRow, this._status);

    this._thread = el('div', 'penny-thread');
    this._thread.setAttribute('role', 'log');
    this._thread.setAttribute('aria-label', 'Conversation with Penny');
    this._thread.addEventListener('scroll', () => {
      const t = this._thread;
      this._sticky = t.scrollHeight - t.scrollTop - t.clientHeight < STICKY_PX;
    });
    this._empty = this._makeEmptyState();
    this._thread.append(this._empty);

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
    this._reason = el('div', 'penny-input-reason');
    this._reason.id = 'penny-input-reason';
    this._input.setAttribute('aria-describedby', this._reason.id);
    this._hint = el('div', 'penny-input-hint', 'Enter to send · Shift+Enter for a new line');
    const row = el('div', 'penny-composer-row');
    row.append(this._input, this._send);
    composer.append(row, this._reason, this._hint);

    this.node.append(header, this._thread, composer);

    this._socket.statusChanged.connect(this._onStatus, this);
    this._socket.received.connect(this._onEvent, this);
    this._socket.readyReceived.connect(this._onReady, this);
    this._renderStatus(this._socket.status);
  }

  get conversationId(): string {
    return this._conversationId;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._socket.statusChanged.disconnect(this._onStatus, this);
    this._socket.received.disconnect(this._onEvent, this);
    this._socket.readyReceived.disconnect(this._onReady, this);
    this._stopCountdown();
    super.dispose();
  }

  /** Forget the thread and start a fresh conversation id. */
  newConversation(): void {
    this._conversationId = newId('conv');
    this._turns.clear();
    this._current = null;
    this._tools.clear();
    this._pendingUser = [];
    this._lastSeq = 0;
    this._resumeWatermark = null;
    this._thread.replaceChildren(this._empty);
    this._input.focus();
  }

  /** Send the input's text (or `text`) as a user message. */
  sendMessage(text?: string): boolean {
    const content = (text ?? this._input.value).trim();
    if (!content || this._socket.status.state !== 'connected') {
      return false;
    }
    const clientMessageId = newId('c');
    const sent = this._socket.send({
      type: 'message',
      content,
      conversationId: this._conversationId,
      clientMessageId
    });
    if (!sent) {
      return false;
    }
    const node = this._appendMessage('user', content);
    node.dataset.clientMessageId = clientMessageId;
    this._pendingUser.push(node);
    // The next assistant-side event opens a new turn.
    this._current = null;
    if (text === undefined) {
      this._input.value = '';
      this._autosize();
    }
    this._scrollToBottom(true);
    return true;
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this._input.disabled) {
      this._input.focus();
    }
  }

  // ---------------------------------------------------------------- status

  private _onStatus(_: PennySocket, status: IConnectionStatus): void {
    this._renderStatus(status);
  }

  private _renderStatus(status: IConnectionStatus): void {
    const { state, ready } = status;
    this._status.dataset.state = state;
    this.node.dataset.state = state;
    let text: string;
    let reason = '';
    if (state === 'connected' && ready) {
      text = `Connected as ${ready.user} · tenant ${ready.tenant} · model ${ready.model}`;
    } else if (state === 'connecting') {
      text = status.attempt === 0 ? 'Connecting…' : 'Reconnecting…';
      reason = 'Waiting for the Penny server; you can type once connected.';
    } else {
      const retry =
        status.retryAt !== null
          ? ` · retrying in ${Math.max(1, Math.ceil((status.retryAt - Date.now()) / 1000))} s`
          : '';
      text = `Offline${retry}`;
      reason = `Not connected to the Penny server${
        status.reason ? `: ${status.reason}` : ''
      }.`;
    }
    this._statusText.textContent = text;
    this._status.title = text;
    this._retryButton.hidden = state !== 'offline';
    const disabled = state !== 'connected';
    this._input.disabled = disabled;
    this._send.disabled = disabled;
    this._reason.textContent = reason;
    this._reason.hidden = !reason;
    this._hint.hidden = disabled;
    if (state === 'offline' && status.retryAt !== null) {
      this._startCountdown();
    } else {
      this._stopCountdown();
    }
    for (const b of this._empty.querySelectorAll('button')) {
      (b as HTMLButtonElement).disabled = disabled;
    }
  }

  /** Keep "retrying in N s" current while offline. */
  private _startCountdown(): void {
    if (this._countdown === null) {
      this._countdown = window.setInterval(
        () => this._renderStatus(this._socket.status),
        1000
      );
    }
  }

  private _stopCountdown(): void {
    if (this._countdown !== null) {
      window.clearInterval(this._countdown);
      this._countdown = null;
    }
  }

  private _onReady(
    _: PennySocket,
    args: { reconnect: boolean }
  ): void {
    // After a reconnect, ask for what this conversation missed while away.
    if (args.reconnect && this._lastSeq > 0) {
      this._resumeWatermark = this._lastSeq;
      this._socket.send({
        type: 'resume',
        conversationId: this._conversationId,
        afterSeq: this._lastSeq
      });
    }
  }

  // ---------------------------------------------------------------- events

  private _onEvent(_: PennySocket, event: ServerEvent): void {
    if (event.conversationId && event.conversationId !== this._conversationId) {
      return;
    }
    if (typeof event.seq === 'number' && event.conversationId) {
      // While replaying after a resume, drop anything already shown.
      if (this._resumeWatermark !== null) {
        if (event.seq <= this._resumeWatermark) {
          return;
        }
        this._resumeWatermark = null;
      }
      this._lastSeq = Math.max(this._lastSeq, event.seq);
    }
    switch (event.type) {
      case 'message.created':
        this._onMessageCreated(event);
        break;
      case 'assistant.delta':
        this._onDelta(event);
        break;
      case 'assistant.done': {
        const turn = this._turns.get(event.messageId) ?? this._current;
        if (turn) {
          this._finishTurn(turn);
        }
        break;
      }
      case 'tool.started':
        this._onToolStarted(event);
        break;
      case 'tool.finished':
        this._onToolFinished(event);
        break;
      case 'artifact':
        this._onArtifact(event.artifact);
        break;
      case 'error': {
        const node = el('div', 'penny-error');
        node.setAttribute('role', 'alert');
        node.textContent = event.message || event.code || 'Something went wrong.';
        if (event.code) {
          node.dataset.code = event.code;
        }
        this._append(node);
        if (this._current && !this._current.done) {
          this._finishTurn(this._current);
        }
        break;
      }
      default:
        break;
    }
  }

  private _onMessageCreated(event: IMessageCreatedEvent): void {
    const message = event.message;
    if (!message) {
      return;
    }
    if (message.role === 'user') {
      const cid = event.clientMessageId ?? message.clientMessageId;
      let idx = cid
        ? this._pendingUser.findIndex(n => n.dataset.clientMessageId === cid)
        : -1;
      if (idx < 0 && this._pendingUser.length) {
        idx = 0;
      }
      if (idx >= 0) {
        const [node] = this._pendingUser.splice(idx, 1);
        node.dataset.messageId = message.id;
      } else {
        // Sent from elsewhere (another tab, or replayed after resume).
        this._appendMessage('user', message.content).dataset.messageId = message.id;
      }
      return;
    }
    if (message.role === 'assistant') {
      const turn = this._turnFor(message.id);
      if (message.content && !turn.raw) {
        turn.raw = message.content;
        renderRichText(turn.text, turn.raw);
      }
    }
  }

  private _onDelta(event: IAssistantDeltaEvent): void {
    const turn = this._turnFor(event.messageId);
    if (typeof event.text === 'string' && event.text) {
      turn.raw += event.text;
      renderRichText(turn.text, turn.raw);
      this._scrollToBottom();
    }
  }

  private _onToolStarted(event: IToolStartedEvent): void {
    const turn = this._turnFor(null);
    const node = el('div', 'penny-tool');
    node.dataset.callId = event.callId;
    node.dataset.status = 'running';
    node.textContent = `${event.tool} · running…`;
    turn.tools.append(node);
    this._tools.set(event.callId, node);
    this._scrollToBottom();
  }

  private _onToolFinished(event: IToolFinishedEvent): void {
    let node = this._tools.get(event.callId);
    if (!node) {
      node = el('div', 'penny-tool');
      node.dataset.callId = event.callId;
      this._turnFor(null).tools.append(node);
      this._tools.set(event.callId, node);
    }
    node.dataset.status = event.ok ? 'ok' : 'error';
    const parts = [event.tool, event.ok ? 'ok' : 'error'];
    const duration = formatDuration(event.durationMs);
    if (duration) {
      parts.push(duration);
    }
    const err = event.ok ? '' : errorText(event.error);
    if (err) {
      parts.push(err);
    }
    node.textContent = parts.join(' · ');
    node.title = node.textContent;
    this._scrollToBottom();
  }

  private _onArtifact(artifact: IArtifact): void {
    if (!artifact || !artifact.id) {
      return;
    }
    const turn = this._turnFor(null);
    const existing = turn.artifacts.querySelector<HTMLElement>(
      `[data-artifact-id="${CSS.escape(artifact.id)}"]`
    );
    const card = existing ?? el('div', 'penny-artifact');
    card.replaceChildren();
    card.dataset.artifactId = artifact.id;
    card.dataset.artifactType = String(artifact.type ?? '');
    const head = el('div', 'penny-artifact-head');
    head.append(
      el('span', 'penny-artifact-type', String(artifact.type || 'artifact')),
      el('span', 'penny-artifact-title', artifact.title || artifact.id)
    );
    const meta = [artifact.id];
    if (typeof artifact.version === 'number') {
      meta.push(`v${artifact.version}`);
    }
    card.append(head, el('div', 'penny-artifact-meta', meta.join(' · ')));
    if (!existing) {
      turn.artifacts.append(card);
    }
    this._scrollToBottom();
  }

  // ---------------------------------------------------------------- thread

  /**
   * The assistant turn for `messageId`, or the open turn when the event names no
   * message (tools, artifacts). Opens a new turn when there is none.
   */
  private _turnFor(messageId: string | null): ITurn {
    if (messageId) {
      const known = this._turns.get(messageId);
      if (known) {
        return known;
      }
      const cur = this._current;
      if (cur && !cur.done && cur.messageId === null) {
        cur.messageId = messageId;
        cur.node.dataset.messageId = messageId;
        this._turns.set(messageId, cur);
        return cur;
      }
    } else if (this._current && !this._current.done) {
      return this._current;
    }
    const node = this._appendMessage('assistant', '');
    node.dataset.streaming = 'true';
    const tools = el('div', 'penny-tools');
    const text = el('div', 'penny-text');
    const artifacts = el('div', 'penny-artifacts');
    node.replaceChildren(el('div', 'penny-role', 'Penny'), tools, text, artifacts);
    const turn: ITurn = {
      node,
      tools,
      text,
      raw: '',
      artifacts,
      messageId,
      done: false
    };
    if (messageId) {
      node.dataset.messageId = messageId;
      this._turns.set(messageId, turn);
    }
    this._current = turn;
    return turn;
  }

  private _finishTurn(turn: ITurn): void {
    turn.done = true;
    delete turn.node.dataset.streaming;
    if (this._current === turn) {
      this._current = null;
    }
  }

  private _appendMessage(role: 'user' | 'assistant', content: string): HTMLElement {
    const node = el('div', `penny-message penny-message-${role}`);
    if (role === 'user') {
      node.append(el('div', 'penny-role', 'You'), el('div', 'penny-text', content));
    }
    this._append(node);
    return node;
  }

  private _append(node: HTMLElement): void {
    if (this._empty.isConnected) {
      this._empty.remove();
    }
    this._thread.append(node);
    this._scrollToBottom();
  }

  private _scrollToBottom(force = false): void {
    if (force || this._sticky) {
      this._thread.scrollTop = this._thread.scrollHeight;
      this._sticky = true;
    }
  }

  private _makeEmptyState(): HTMLElement {
    const node = el('div', 'penny-empty');
    node.append(
      el('p', 'penny-empty-lead', 'Ask Penny about your company’s data.'),
      el('p', 'penny-empty-hint', 'Answers stream in here; dashboards and charts show up as cards.')
    );
    const example = el('button', 'penny-example', EXAMPLE_PROMPT);
    example.type = 'button';
    example.addEventListener('click', () => this.sendMessage(EXAMPLE_PROMPT));
    node.append(example);
    return node;
  }

  // ---------------------------------------------------------------- input

  private _onKeyDown = (event: KeyboardEvent): void => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) {
      return;
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
  private _conversationId = newId('conv');
  private _status: HTMLElement;
  private _statusText: HTMLElement;
  private _retryButton: HTMLButtonElement;
  private _newButton: HTMLButtonElement;
  private _thread: HTMLElement;
  private _empty: HTMLElement;
  private _input: HTMLTextAreaElement;
  private _send: HTMLButtonElement;
  private _reason: HTMLElement;
  private _hint: HTMLElement;
  private _countdown: number | null = null;
  private _sticky = true;
  private _turns = new Map<string, ITurn>();
  private _current: ITurn | null = null;
  private _tools = new Map<string, HTMLElement>();
  private _pendingUser: HTMLElement[] = [];
  private _lastSeq = 0;
  private _resumeWatermark: number | null = null;
}
