import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { ClientFrame, IReadyEvent, ServerEvent, parseEvent } from './protocol';

/** connecting: no `ready` yet; connected: `ready` received; offline: gave up for now. */
export type ConnectionState = 'connecting' | 'connected' | 'offline';

export interface IConnectionStatus {
  state: ConnectionState;
  /** Set while connected. */
  ready: IReadyEvent | null;
  /** Failed attempts since the last good connection. */
  attempt: number;
  /** ms until the next automatic retry, if one is scheduled. */
  retryInMs: number | null;
  /** Date.now() of the next automatic retry, if one is scheduled. */
  retryAt: number | null;
  /** Why the last connection ended, if known. */
  reason: string;
}

/** After this many failed attempts in a row the state reads "offline" (still retrying). */
const OFFLINE_AFTER_ATTEMPTS = 3;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;
const PING_INTERVAL_MS = 25000;
/** Close codes after which retrying is pointless until the page is reloaded. */
const FATAL_CLOSE_CODES = new Set([1008, 4001, 4003]);

/**
 * The Penny chat socket: one WebSocket to `{base_url}penny/ws`, reconnecting with
 * capped exponential backoff (plus jitter) when it closes unexpectedly.
 */
export class PennySocket {
  constructor(options: { serverSettings?: ServerConnection.ISettings } = {}) {
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
    window.addEventListener('online', this._onBrowserOnline);
    window.addEventListener('offline', this._onBrowserOffline);
  }

  get status(): IConnectionStatus {
    return { ...this._status };
  }

  get statusChanged(): ISignal<this, IConnectionStatus> {
    return this._statusChanged;
  }

  /** Every parsed server event, including `ready`. */
  get received(): ISignal<this, ServerEvent> {
    return this._received;
  }

  /** Emitted after each `ready`, with true when it is a reconnection. */
  get readyReceived(): ISignal<this, { event: IReadyEvent; reconnect: boolean }> {
    return this._readyReceived;
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
      (this._ws.readyState === WebSocket.OPEN ||
        this._ws.readyState === WebSocket.CONNECTING)
    ) {
      return;
    }
    this._setStatus({
      state:
        this._status.attempt >= OFFLINE_AFTER_ATTEMPTS ? 'offline' : 'connecting',
      ready: null,
      retryInMs: null,
      retryAt: null
    });
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._scheduleRetry(String(err));
      return;
    }
    this._ws = ws;
    ws.onmessage = evt => this._onMessage(ws, evt);
    ws.onclose = evt => this._onClose(ws, evt);
    // onerror is always followed by onclose; nothing to do here.
    ws.onerror = () => undefined;
  }

  /** Send a frame; false when the socket is not open and ready. */
  send(frame: ClientFrame): boolean {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.removeEventListener('online', this._onBrowserOnline);
    window.removeEventListener('offline', this._onBrowserOffline);
    this._clearRetry();
    this._stopPing();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000, 'disposed');
    }
    Signal.clearData(this);
  }

  private _onMessage(ws: WebSocket, evt: MessageEvent): void {
    if (ws !== this._ws) {
      return;
    }
    const event = parseEvent(evt.data);
    if (!event) {
      return;
    }
    if (event.type === 'ready') {
      const reconnect = this._everReady;
      this._everReady = true;
      this._setStatus({
        state: 'connected',
        ready: event,
        attempt: 0,
        retryInMs: null,
        retryAt: null,
        reason: ''
      });
      this._startPing();
      this._readyReceived.emit({ event, reconnect });
    }
    this._received.emit(event);
  }

  private _onClose(ws: WebSocket, evt: CloseEvent): void {
    if (ws !== this._ws) {
      return;
    }
    this._ws = null;
    this._stopPing();
    if (this._disposed) {
      return;
    }
    const reason =
      evt.reason ||
      (evt.code === 1006 ? 'the server could not be reached' : `closed (${evt.code})`);
    if (FATAL_CLOSE_CODES.has(evt.code)) {
      // Auth failure or policy violation: retrying would only repeat it.
      this._setStatus({
        state: 'offline',
        ready: null,
        retryInMs: null,
        retryAt: null,
        reason
      });
      return;
    }
    this._scheduleRetry(reason);
  }

  private _scheduleRetry(reason: string): void {
    const attempt = this._status.attempt + 1;
    const exp = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1));
    // "Equal jitter": half fixed, half random, so many tabs do not reconnect in step.
    const delay = Math.round(exp / 2 + Math.random() * (exp / 2));
    this._setStatus({
      state: attempt >= OFFLINE_AFTER_ATTEMPTS ? 'offline' : 'connecting',
      ready: null,
      attempt,
      retryInMs: delay,
      retryAt: Date.now() + delay,
      reason
    });
    this._clearRetry();
    if (navigator.onLine === false) {
      // Wait for the browser's "online" event instead of polling.
      this._setStatus({ state: 'offline', retryInMs: null, retryAt: null });
      return;
    }
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
    this._pingTimer = window.setInterval(() => {
      this.send({ type: 'ping' });
    }, PING_INTERVAL_MS);
  }

  private _stopPing(): void {
    if (this._pingTimer !== null) {
      window.clearInterval(this._pingTimer);
      this._pingTimer = null;
    }
  }

  private _setStatus(patch: Partial<IConnectionStatus>): void {
    this._status = { ...this._status, ...patch };
    this._statusChanged.emit(this.status);
  }

  private _onBrowserOnline = (): void => {
    if (!this._ws) {
      this.connect();
    }
  };

  private _onBrowserOffline = (): void => {
    if (!this._ws) {
      this._clearRetry();
      this._setStatus({
        state: 'offline',
        retryInMs: null,
        retryAt: null,
        reason: 'the browser is offline'
      });
    }
  };

  private _settings: ServerConnection.ISettings;
  private _ws: WebSocket | null = null;
  private _disposed = false;
  private _everReady = false;
  private _retryTimer: number | null = null;
  private _pingTimer: number | null = null;
  private _status: IConnectionStatus = {
    state: 'connecting',
    ready: null,
    attempt: 0,
    retryInMs: null,
    retryAt: null,
    reason: ''
  };
  private _statusChanged = new Signal<this, IConnectionStatus>(this);
  private _received = new Signal<this, ServerEvent>(this);
  private _readyReceived = new Signal<
    this,
    { event: IReadyEvent; reconnect: boolean }
  >(this);
}
