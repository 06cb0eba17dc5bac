/**
 * The Penny chat socket: one WebSocket to `{base}penny/ws` that survives drops.
 *
 * - Reconnects after any unexpected close with capped exponential backoff plus jitter.
 * - Queues `message` and `cancel` frames while it is not connected and flushes them after the
 *   next `ready`; messages sent on a socket that died before the server acknowledged them
 *   (no `message.created` with their clientMessageId) are sent again: the server refuses a
 *   repeated clientMessageId with `duplicate_message`, so nothing is stored twice.
 * - Tracks the last seq per followed conversation: drops events it has already delivered,
 *   asks for a `resume` when it sees a gap, and after each reconnect resumes every followed
 *   conversation from its last seq. Listeners see each conversation event exactly once, in order.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { ClientFrame, IReadyEvent, ServerEvent, parseEvent } from './protocol';

/**
 * connecting: first attempt, nothing heard yet; connected: `ready` received;
 * reconnecting: lost a good connection, retry scheduled; offline: retried several times or refused.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface IConnectionStatus {
  state: ConnectionState;
  /** Set while connected. */
  ready: IReadyEvent | null;
  /** Failed attempts since the last good connection. */
  attempt: number;
  /** Date.now() of the next automatic retry, if one is scheduled. */
  retryAt: number | null;
  /** Why the last connection ended, if known. */
  reason: string;
  /** Frames waiting for the connection. */
  queued: number;
  /** True once any connection reached `ready`: sending is worth queueing. */
  everConnected: boolean;
}

export type SendResult = 'sent' | 'queued' | 'dropped';

/** After this many failed attempts in a row the state reads "offline" (it still retries). */
const OFFLINE_AFTER_ATTEMPTS = 3;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_INTERVAL_MS = 25000;
const MAX_QUEUE = 50;
/** Close codes after which retrying is pointless until the page is reloaded. */
const FATAL_CLOSE_CODES = new Set([1008, 4001, 4003]);

interface IFollowed {
  lastSeq: number;
  /** The server knows the conversation (false for a draft nobody has written in yet). */
  exists: boolean;
  /** lastSeq at which a resume was requested and not yet answered, else null. */
  resumeFrom: number | null;
}

export class PennySocket {
  constructor(options: { serverSettings?: ServerConnection.ISettings } = {}) {
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
    window.addEventListener('online', this._onBrowserOnline);
  }

  get status(): IConnectionStatus {
    return { ...this._status, queued: this._queue.length };
  }

  get statusChanged(): ISignal<this, IConnectionStatus> {
    return this._statusChanged;
  }

  /** Server events after de-duplication (conversation events exactly once, in seq order). */
  get received(): ISignal<this, ServerEvent> {
    return this._received;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The socket URL, with the token appended when the page has one. */
  get url(): string {
    let url = URLExt.join(this._settings.wsUrl, 'penny/ws');
    const token = this._settings.token;
    if (token) {
      url += `?token=${encodeURIComponent(token)}`;
    }
    return url;
  }

  /** Open the socket now (cancels a pending retry). */
  connect(): void {
    if (this._disposed) {
      return;
    }
    this._clearRetry();
    if (
      this._ws &&
      (this._ws.readyState === WebSocket.OPEN || this._ws.readyState === WebSocket.CONNECTING)
    ) {
      return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._scheduleRetry(String(err));
      return;
    }
    this._ws = ws;
    this._ready = false;
    ws.onmessage = evt => this._onMessage(ws, evt);
    ws.onclose = evt => this._onClose(ws, evt);
    // onerror is always followed by onclose; nothing to do here.
    ws.onerror = () => undefined;
  }

  /**
   * Follow a conversation: from now on its events are de-duplicated by seq. With `replay`
   * (the server has the conversation), ask for its whole event log, which rebuilds the thread.
   */
  follow(conversationId: string, replay: boolean): void {
    this._followed.set(conversationId, {
      lastSeq: 0,
      exists: replay,
      resumeFrom: null
    });
    if (replay) {
      this._resume(conversationId);
    }
  }

  unfollow(conversationId: string): void {
    this._followed.delete(conversationId);
  }

  /** Send a frame now, or queue it (message, cancel) until the connection is back. */
  send(frame: ClientFrame): SendResult {
    if (frame.type === 'message' && frame.conversationId) {
      if (frame.clientMessageId) {
        this._unacked.set(frame.clientMessageId, frame);
      }
    }
    if (this._sendNow(frame)) {
      return 'sent';
    }
    if (frame.type === 'message' || frame.type === 'cancel') {
      if (frame.type === 'message' && frame.clientMessageId) {
        // Sent from the queue, not as an unacknowledged resend.
        this._unacked.delete(frame.clientMessageId);
      }
      if (this._queue.length >= MAX_QUEUE) {
        return 'dropped';
      }
      this._queue.push(frame);
      this._emitStatus();
      return 'queued';
    }
    return 'dropped';
  }

  /** Drop a queued message (the person removed it before it went out). */
  unqueue(clientMessageId: string): boolean {
    const i = this._queue.findIndex(
      f => f.type === 'message' && f.clientMessageId === clientMessageId
    );
    if (i < 0) {
      return false;
    }
    this._queue.splice(i, 1);
    this._emitStatus();
    return true;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.removeEventListener('online', this._onBrowserOnline);
    this._clearRetry();
    this._stopTimers();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000, 'disposed');
    }
    Signal.clearData(this);
  }

  // ------------------------------------------------------------------ incoming

  private _onMessage(ws: WebSocket, evt: MessageEvent): void {
    if (ws !== this._ws) {
      return;
    }
    const event = parseEvent(evt.data);
    if (!event) {
      return;
    }
    if (event.type === 'ready') {
      this._onReady(event);
      this._received.emit(event);
      return;
    }
    if (!this._accept(event)) {
      return;
    }
    if (event.type === 'message.created' && event.message?.role === 'user') {
      const cid = event.message.clientMessageId;
      if (cid) {
        this._unacked.delete(cid);
      }
    }
    this._received.emit(event);
  }

  /** The seq bookkeeping: false for an event to drop. */
  private _accept(event: ServerEvent): boolean {
    const cid = event.conversationId;
    const seq = event.seq;
    if (!cid || typeof seq !== 'number') {
      return true;
    }
    const f = this._followed.get(cid);
    if (!f) {
      return true;
    }
    f.exists = true;
    if (seq <= f.lastSeq) {
      return false;
    }
    if (seq > f.lastSeq + 1) {
      // Missed something (e.g. a turn that streamed to a socket that has since died): the
      // server's log has it. Drop this one; the replay brings it back in order.
      if (f.resumeFrom !== f.lastSeq) {
        this._resume(cid);
      }
      return false;
    }
    f.lastSeq = seq;
    f.resumeFrom = null;
    return true;
  }

  private _onReady(event: IReadyEvent): void {
    const reconnect = this._status.everConnected;
    this._ready = true;
    this._setStatus({
      state: 'connected',
      ready: event,
      attempt: 0,
      retryAt: null,
      reason: '',
      everConnected: true
    });
    this._startPing();
    // Catch up first, so replayed events (which acknowledge messages) come before new ones.
    for (const [cid, f] of this._followed) {
      if (f.exists) {
        f.resumeFrom = null;
        this._resume(cid);
      }
    }
    if (reconnect) {
      // Messages written on the dead socket and never acknowledged: send again (idempotent).
      for (const frame of this._unacked.values()) {
        this._sendNow(frame);
      }
    }
    const queued = this._queue.splice(0);
    for (const frame of queued) {
      this.send(frame);
    }
    this._emitStatus();
  }

  private _resume(conversationId: string): void {
    const f = this._followed.get(conversationId);
    if (!f) {
      return;
    }
    if (this._sendNow({ type: 'resume', conversationId, afterSeq: f.lastSeq })) {
      f.resumeFrom = f.lastSeq;
    }
  }

  // ------------------------------------------------------------------ connection

  private _sendNow(frame: ClientFrame): boolean {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this._ready) {
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  private _onClose(ws: WebSocket, evt: CloseEvent): void {
    if (ws !== this._ws) {
      return;
    }
    this._ws = null;
    this._ready = false;
    this._stopTimers();
    if (this._disposed) {
      return;
    }
    const reason =
      evt.reason ||
      (evt.code === 1006 ? 'the connection dropped' : `closed (code ${evt.code})`);
    if (FATAL_CLOSE_CODES.has(evt.code)) {
      // Auth failure or policy violation: retrying would only repeat it.
      this._setStatus({ state: 'offline', ready: null, retryAt: null, reason });
      return;
    }
    this._scheduleRetry(reason);
  }

  private _scheduleRetry(reason: string): void {
    const attempt = this._status.attempt + 1;
    const exp = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
    // "Equal jitter": half fixed, half random, so many tabs do not reconnect in step.
    const delay = Math.round(exp / 2 + Math.random() * (exp / 2));
    const state: ConnectionState =
      attempt >= OFFLINE_AFTER_ATTEMPTS
        ? 'offline'
        : this._status.everConnected
          ? 'reconnecting'
          : 'connecting';
    this._clearRetry();
    if (navigator.onLine === false) {
      // Wait for the browser's "online" event instead of polling.
      this._setStatus({ state: 'offline', ready: null, attempt, retryAt: null, reason: 'the browser is offline' });
      return;
    }
    this._setStatus({ state, ready: null, attempt, retryAt: Date.now() + delay, reason });
    this._retryTimer = window.setTimeout(() => {
      this._retryTimer = null;
      this.connect();
    }, delay);
  }

  private _clearRetry(): void {
    if (this._retryTimer !== null) {
      window.clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
  }

  private _startPing(): void {
    this._stopPing();
    this._pingTimer = window.setInterval(() => this._sendNow({ type: 'ping' }), PING_INTERVAL_MS);
  }

  private _stopPing(): void {
    if (this._pingTimer !== null) {
      window.clearInterval(this._pingTimer);
      this._pingTimer = null;
    }
  }

  private _stopTimers(): void {
    this._stopPing();
  }

  private _setStatus(patch: Partial<IConnectionStatus>): void {
    this._status = { ...this._status, ...patch };
    this._emitStatus();
  }

  private _emitStatus(): void {
    this._statusChanged.emit(this.status);
  }

  private _onBrowserOnline = (): void => {
    if (!this._ws) {
      this.connect();
    }
  };

  private _settings: ServerConnection.ISettings;
  private _ws: WebSocket | null = null;
  private _ready = false;
  private _disposed = false;
  private _retryTimer: number | null = null;
  private _pingTimer: number | null = null;
  private _queue: ClientFrame[] = [];
  private _unacked = new Map<string, ClientFrame>();
  private _followed = new Map<string, IFollowed>();
  private _status: IConnectionStatus = {
    state: 'connecting',
    ready: null,
    attempt: 0,
    retryAt: null,
    reason: '',
    queued: 0,
    everConnected: false
  };
  private _statusChanged = new Signal<this, IConnectionStatus>(this);
  private _received = new Signal<this, ServerEvent>(this);
}
