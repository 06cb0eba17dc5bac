/**
 * One conversation's thread: turns server events (already de-duplicated by the socket) into
 * DOM. It knows nothing about sockets or REST; the panel feeds it events and optimistic user
 * messages, and reads `busy` to show the typing indicator and the Stop button.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISignal, Signal } from '@lumino/signaling';

import { ArtifactCard, IArtifactActions, ToolCard, el } from './cards';
import type {
  IAssistantDoneEvent,
  IMessageCreatedEvent,
  IToolFinishedEvent,
  IToolStartedEvent,
  ServerEvent
} from './protocol';
import type { IArtifact } from './renderer';
import { StreamingMarkdown } from './richtext';

/** Distance from the bottom (px) within which new content keeps the thread pinned. */
const STICKY_PX = 48;

export interface IThreadOptions {
  rendermime: IRenderMimeRegistry | null;
  actions: IArtifactActions;
  onInsertCode: (code: string) => void;
  /** Shown while the thread is empty. */
  empty: HTMLElement;
  /** A suggested follow-up was clicked (or Regenerate): send it as the next message. */
  onSuggestion?: (text: string) => void;
  /** Insert an answer into the active notebook as a Markdown cell. */
  onInsertMarkdown?: (text: string) => void;
}

/** "You · 14:05": the time a message was written, in the reader's clock; the full date on hover. */
function roleLine(who: string, when: string | Date | undefined): HTMLElement {
  const line = el('div', 'penny-role', who);
  const time = el('time', 'penny-time');
  line.append(time);
  setTime(line, when);
  return line;
}

function setTime(line: Element | null, when: string | Date | undefined): void {
  const time = line?.querySelector<HTMLTimeElement>('.penny-time');
  const date = when instanceof Date ? when : when ? new Date(when) : null;
  if (!time || !date || isNaN(date.getTime())) {
    return;
  }
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  time.title = date.toLocaleString();
}

/** One assistant reply: tool cards, streamed Markdown, artifact cards. */
interface ITurn {
  node: HTMLElement;
  /** The question this turn answers (what Regenerate asks again), as the server stored it. */
  question: string;
  tools: HTMLElement;
  text: StreamingMarkdown;
  artifacts: HTMLElement;
  messageId: string | null;
  done: boolean;
}

export class Thread {
  constructor(private _options: IThreadOptions) {
    this.node = el('div', 'penny-thread');
    this.node.setAttribute('role', 'log');
    this.node.setAttribute('aria-label', 'Conversation with Penny');
    this.node.addEventListener('scroll', () => {
      const t = this.node;
      this._sticky = t.scrollHeight - t.scrollTop - t.clientHeight < STICKY_PX;
    });
    this._typing = el('div', 'penny-typing');
    this._typing.setAttribute('aria-live', 'polite');
    this._typingText = el('span', 'penny-typing-text');
    this._typing.append(el('span', 'penny-typing-dots'), this._typingText);
    this.reset(null);
  }

  readonly node: HTMLElement;

  get conversationId(): string | null {
    return this._conversationId;
  }

  /** True from a user message until its turn's `assistant.done` (or an error). */
  get busy(): boolean {
    return this._busy;
  }

  get busyChanged(): ISignal<this, boolean> {
    return this._busyChanged;
  }

  /** Forget everything shown and start over for `conversationId`. */
  reset(conversationId: string | null): void {
    for (const turn of this._turns) {
      turn.text.dispose();
    }
    for (const card of this._artifacts.values()) {
      card.dispose();
    }
    this._conversationId = conversationId;
    this._turns = [];
    this._byMessage.clear();
    this._current = null;
    this._tools.clear();
    this._artifacts.clear();
    this._pendingUser = [];
    this._lastQuestion = '';
    this._sticky = true;
    this.node.replaceChildren(this._options.empty);
    this._setBusy(false);
  }

  /** Show what the person just sent, before the server confirms it. */
  addPendingUser(content: string, clientMessageId: string, queued: boolean, attached = ''): void {
    const node = this._appendUser(content);
    node.dataset.clientMessageId = clientMessageId;
    if (attached) {
      node.append(el('div', 'penny-attached', `+ ${attached}`));
    }
    if (queued) {
      node.dataset.queued = 'true';
    }
    this._pendingUser.push(node);
    this._current = null;
    this._setBusy(true);
    this._scrollToBottom(true);
  }

  /** The queued messages went out. */
  markSent(): void {
    for (const node of this._pendingUser) {
      delete node.dataset.queued;
    }
  }

  markStopping(): void {
    this._stopping = true;
    this._renderTyping();
  }

  handle(event: ServerEvent): void {
    if (!this._conversationId || event.conversationId !== this._conversationId) {
      return;
    }
    switch (event.type) {
      case 'message.created':
        this._onMessageCreated(event);
        break;
      case 'assistant.delta': {
        const turn = this._turnFor(event.messageId);
        if (typeof event.text === 'string' && event.text) {
          turn.text.append(event.text);
        }
        break;
      }
      case 'assistant.done':
        this._onDone(event);
        break;
      case 'tool.started':
      case 'tool.finished':
        this._onTool(event);
        break;
      case 'artifact':
        this._onArtifact(event.artifact);
        break;
      case 'error':
        if (event.code === 'duplicate_message') {
          break; // a resend after a reconnect that the server already had: nothing was lost
        }
        this._append(errorNode(event.message || event.code, event.code));
        if (this._current) {
          this._finishTurn(this._current, 'failed');
        }
        this._setBusy(false);
        break;
      default:
        return;
    }
    this._renderTyping();
    this._scrollToBottom();
  }

  /** Redraw every card's sharing line (a conversation's sharing changed). */
  renderSharing(): void {
    for (const card of this._artifacts.values()) {
      card.renderSharing();
    }
  }

  /** An error that belongs to no event (e.g. a failed REST call), shown in the thread. */
  showError(message: string): void {
    this._append(errorNode(message, 'client'));
  }

  // ---------------------------------------------------------------- events

  private _onMessageCreated(event: IMessageCreatedEvent): void {
    const message = event.message;
    if (!message) {
      return;
    }
    if (message.role === 'user') {
      const cid = message.clientMessageId;
      const idx = cid ? this._pendingUser.findIndex(n => n.dataset.clientMessageId === cid) : -1;
      const node = idx >= 0 ? this._pendingUser.splice(idx, 1)[0] : this._appendUser(message.content);
      setTime(node.querySelector('.penny-role'), message.createdAt);
      const context = typeof message.meta?.context === 'string' ? message.meta.context : '';
      if (context && !node.querySelector('.penny-attached')) {
        const note = el('div', 'penny-attached', '+ a notebook cell');
        note.title = context.slice(0, 500);
        node.append(note);
      }
      this._lastQuestion = message.content;
      delete node.dataset.queued;
      node.dataset.messageId = message.id;
      this._current = null;
      this._setBusy(true);
      return;
    }
    if (message.role === 'assistant') {
      // The stored message is the authority: replace whatever the deltas built.
      const turn = this._turnFor(message.id);
      turn.text.set(message.content ?? '');
      setTime(turn.node.querySelector('.penny-role'), message.createdAt);
    }
  }

  private _onDone(event: IAssistantDoneEvent): void {
    const suggestions = Array.isArray(event.suggestions)
      ? event.suggestions.filter(t => typeof t === 'string' && t.trim())
      : [];
    let turn = this._byMessage.get(event.messageId) ?? this._current;
    if (!turn && suggestions.length) {
      turn = this._turnFor(event.messageId ?? null);
    }
    if (turn) {
      this._finishTurn(turn, event.status ?? 'complete');
      if (suggestions.length) {
        this._showSuggestions(turn, suggestions);
      }
    }
    this._setBusy(this._pendingUser.length > 0);
  }

  private _onTool(event: IToolStartedEvent | IToolFinishedEvent): void {
    const card = this._tools.get(event.callId);
    if (!card) {
      const created = new ToolCard(event);
      this._tools.set(event.callId, created);
      this._turnFor(null).tools.append(created.node);
    } else if (event.type === 'tool.started') {
      card.started(event);
    } else {
      card.finished(event);
    }
  }

  private _onArtifact(artifact: IArtifact): void {
    if (!artifact?.id) {
      return;
    }
    const known = this._artifacts.get(artifact.id);
    if (known) {
      known.update(artifact);
      return;
    }
    const card = new ArtifactCard(artifact, this._options.actions);
    this._artifacts.set(artifact.id, card);
    this._turnFor(null).artifacts.append(card.node);
  }

  // ---------------------------------------------------------------- turns

  /** The turn for `messageId`, or the open turn for events that name no message. */
  private _turnFor(messageId: string | null): ITurn {
    if (messageId) {
      const known = this._byMessage.get(messageId);
      if (known) {
        return known;
      }
      const cur = this._current;
      if (cur && !cur.done && cur.messageId === null) {
        this._bind(cur, messageId);
        return cur;
      }
    } else if (this._current && !this._current.done) {
      return this._current;
    }
    const node = el('div', 'penny-message penny-message-assistant');
    node.dataset.streaming = 'true';
    const tools = el('div', 'penny-tools');
    const textHost = el('div', 'penny-text');
    const artifacts = el('div', 'penny-artifacts');
    node.append(roleLine('Penny', new Date()), tools, textHost, artifacts);
    const turn: ITurn = {
      node,
      question: this._lastQuestion,
      tools,
      text: new StreamingMarkdown(textHost, {
        rendermime: this._options.rendermime,
        onInsertCode: this._options.onInsertCode
      }),
      artifacts,
      messageId: null,
      done: false
    };
    if (messageId) {
      this._bind(turn, messageId);
    }
    this._turns.push(turn);
    this._current = turn;
    this._append(node);
    return turn;
  }

  private _bind(turn: ITurn, messageId: string): void {
    turn.messageId = messageId;
    turn.node.dataset.messageId = messageId;
    this._byMessage.set(messageId, turn);
  }

  private _finishTurn(turn: ITurn, status: string): void {
    turn.done = true;
    delete turn.node.dataset.streaming;
    turn.node.dataset.status = status;
    if (status === 'cancelled' && !turn.node.querySelector('.penny-turn-note')) {
      turn.node.append(el('div', 'penny-turn-note', 'Stopped.'));
    } else if (status === 'failed' && !turn.node.querySelector('.penny-turn-note')) {
      turn.node.append(el('div', 'penny-turn-note', 'This answer failed part way.'));
    } else if (status === 'interrupted' && !turn.node.querySelector('.penny-turn-note')) {
      turn.node.append(el('div', 'penny-turn-note', 'Interrupted: the server stopped.'));
    }
    this._answerActions(turn);
    if (this._current === turn) {
      this._current = null;
    }
  }

  /**
   * Copy and Insert (as a Markdown cell) under an answer; Regenerate asks the question again, and only the
   * latest answer offers it.
   */
  private _answerActions(turn: ITurn): void {
    turn.node.querySelector('.penny-answer-actions')?.remove();
    for (const old of this.node.querySelectorAll('.penny-answer-regenerate')) {
      old.remove();
    }
    const bar = el('div', 'penny-answer-actions');
    const button = (cls: string, label: string, title: string, run: (b: HTMLButtonElement) => void) => {
      const b = el('button', `penny-answer-action ${cls}`, label);
      b.type = 'button';
      b.title = title;
      b.addEventListener('click', () => run(b));
      bar.append(b);
    };
    const text = () => turn.text.text.trim();
    if (text()) {
      button('penny-answer-copy', 'Copy', 'Copy this answer as Markdown', b => {
        Clipboard.copyToSystem(text());
        b.textContent = 'Copied';
        window.setTimeout(() => (b.textContent = 'Copy'), 1500);
      });
      if (this._options.onInsertMarkdown) {
        button('penny-answer-insert', 'Insert', 'Add this answer to the notebook as a Markdown cell', () =>
          this._options.onInsertMarkdown!(text())
        );
      }
    }
    const question = turn.question;
    if (question && this._options.onSuggestion) {
      button('penny-answer-regenerate', 'Regenerate', 'Ask the same question again', () =>
        this._options.onSuggestion!(question)
      );
    }
    if (bar.childElementCount) {
      turn.node.insertBefore(bar, turn.artifacts);
    }
  }

  /** Follow-up requests under the answer; a click sends one in this conversation. */
  private _showSuggestions(turn: ITurn, suggestions: string[]): void {
    const box = el('div', 'penny-suggestions');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Suggested follow-ups');
    for (const text of suggestions) {
      const b = el('button', 'penny-suggestion', text.trim());
      b.type = 'button';
      b.title = `Ask: ${text.trim()}`;
      b.addEventListener('click', () => this._options.onSuggestion?.(text.trim()));
      box.append(b);
    }
    turn.node.querySelector('.penny-suggestions')?.remove();
    turn.node.append(box);
  }

  // ---------------------------------------------------------------- DOM

  private _setBusy(busy: boolean): void {
    if (busy !== this._busy) {
      this._busy = busy;
      this._stopping = false;
      this._busyChanged.emit(busy);
    }
    this._renderTyping();
  }

  private _renderTyping(): void {
    if (!this._busy) {
      this._typing.remove();
      return;
    }
    const running = [...this._tools.values()].find(c => c.node.dataset.status === 'running');
    this._typingText.textContent = this._stopping
      ? 'Stopping…'
      : running
        ? `Working on ${running.node.querySelector('.penny-tool-name')?.textContent || 'it'}…`
        : 'Penny is working…';
    this.node.append(this._typing); // (re)attach as the last child
  }

  private _appendUser(content: string): HTMLElement {
    const node = el('div', 'penny-message penny-message-user');
    node.append(roleLine('You', new Date()), el('div', 'penny-text penny-user-text', content));
    this._append(node);
    return node;
  }

  private _append(node: HTMLElement): void {
    this._options.empty.remove();
    if (this._typing.isConnected) {
      this.node.insertBefore(node, this._typing);
    } else {
      this.node.append(node);
    }
    this._scrollToBottom();
  }

  private _scrollToBottom(force = false): void {
    if (force || this._sticky) {
      // After layout, so a just-rendered preview counts.
      requestAnimationFrame(() => {
        this.node.scrollTop = this.node.scrollHeight;
      });
      this._sticky = true;
    }
  }

  private _conversationId: string | null = null;
  private _turns: ITurn[] = [];
  private _byMessage = new Map<string, ITurn>();
  private _lastQuestion = '';
  private _current: ITurn | null = null;
  private _tools = new Map<string, ToolCard>();
  private _artifacts = new Map<string, ArtifactCard>();
  private _pendingUser: HTMLElement[] = [];
  private _busy = false;
  private _stopping = false;
  private _sticky = true;
  private _typing: HTMLElement;
  private _typingText: HTMLElement;
  private _busyChanged = new Signal<this, boolean>(this);
}

function errorNode(message: string, code: string): HTMLElement {
  const node = el('div', 'penny-error', message || 'Something went wrong.');
  node.setAttribute('role', 'alert');
  node.dataset.code = code;
  return node;
}
