/**
 * The Penny chat socket wire contract (DESIGN.md, "Wire contract").
 *
 * Only the fields the sidebar reads are typed; servers may send more.
 */
import type { IArtifact } from './renderer';
import type { ISharing } from './renderer/types';

export type { IArtifact, ISharing };

/** Client -> server frames. The server forbids unknown fields, so send nothing else. */
export type ClientFrame =
  | {
      type: 'message';
      content: string;
      conversationId?: string;
      clientMessageId?: string;
      /** "builtin", "ollama:<name>" or "openai:<name>"; omitted = the server's default. */
      model?: string;
      /** The active notebook cell (or its selected text), attached to this question. */
      context?: string;
    }
  | { type: 'resume'; conversationId: string; afterSeq: number }
  | { type: 'cancel'; conversationId: string }
  | { type: 'typing'; conversationId: string }
  | { type: 'ping' };

export interface IChatMessage {
  id: string;
  conversationId: string;
  seq?: number;
  role: 'user' | 'assistant' | 'system' | 'tool' | string;
  content: string;
  status?: string;
  createdAt?: string;
  clientMessageId?: string;
  meta?: Record<string, unknown>;
}

export interface IConversation {
  id: string;
  title: string;
  createdAt?: string;
  updatedAt?: string;
  messageCount?: number;
  owner?: string;
  sharing?: ISharing;
  canShare?: boolean;
}

/** `POST artifacts/{id}/links`: a link anyone holding it can download until `expiresAt`. */
export interface ISignedLink {
  /** A path on this server (`{base}penny/files/<token>`) or an absolute https URL (S3). */
  url: string;
  /** ISO 8601. */
  expiresAt: string;
  format: string;
}

/** One entry of `GET penny/api/models`. */
export interface IModelInfo {
  id: string;
  label: string;
  available: boolean;
  /** Why it is unavailable (optional). */
  reason?: string;
}

/** `GET penny/api/models`: what can answer, and the server's default with its reason. */
export interface IModelList {
  active: string;
  reason: string;
  models: IModelInfo[];
}

/** `GET penny/api/me`: who the server says the caller is. */
export interface IMe {
  user: string;
  tenant: string;
  roles: string[];
}

/** Tool calls counted from the audit log; `calls` = succeeded + errors + rateLimited. */
export interface IUsageCounts {
  calls: number;
  errors: number;
  rateLimited: number;
}

/** One row of the tenant's audit log (`GET penny/api/audit`, and the admin panel). */
export interface IAuditEntry {
  id: number;
  /** ISO 8601, UTC. */
  at: string;
  tenant: string;
  user: string;
  tool: string;
  paramsDigest: string;
  /** "ok", "rate_limited", or an error code. */
  outcome: string;
  durationMs: number;
  rowCount: number | null;
  prevHash: string;
  hash: string;
}

/** `GET penny/api/admin`: the admin panel of the caller's tenant (admins only). */
export interface IAdminOverview {
  tenant: string;
  /** Every member, and anyone who called a tool in the window (roles [] when no longer a member). */
  users: Array<IUsageCounts & { user: string; roles: string[]; lastSeen: string | null }>;
  usage: {
    since: string;
    until: string;
    /** Exactly 30 days, oldest first, UTC dates. */
    days: Array<IUsageCounts & { date: string }>;
    byTool: Array<IUsageCounts & { tool: string }>;
    byUser: Array<IUsageCounts & { user: string }>;
  };
  audit: { entries: IAuditEntry[]; verified: boolean; firstBadId?: number };
  sources: Array<{ name: string; kind: string; ok: boolean; detail: string }>;
  model: IModelList;
}

interface IBaseEvent {
  conversationId?: string | null;
  seq?: number;
}

export interface IReadyEvent extends IBaseEvent {
  type: 'ready';
  user: string;
  tenant: string;
  /** The model that answers by default ("builtin", "ollama:<name>" or "openai:<name>"). */
  model: string;
  /** One sentence: why that model is the default. */
  modelReason?: string;
}

export interface IMessageCreatedEvent extends IBaseEvent {
  type: 'message.created';
  /** Carries the clientMessageId the sidebar sent, if any. */
  message: IChatMessage;
}

export interface IAssistantDeltaEvent extends IBaseEvent {
  type: 'assistant.delta';
  messageId: string;
  text: string;
}

/** 'interrupted': the server answering stopped mid-turn, and another ended the turn with a sentence. */
export type TurnStatus = 'complete' | 'failed' | 'cancelled' | 'interrupted';

export interface IAssistantDoneEvent extends IBaseEvent {
  type: 'assistant.done';
  messageId: string;
  status?: TurnStatus | string;
  /** Follow-up requests the person can send with one click. */
  suggestions?: string[];
}

export interface IToolStartedEvent extends IBaseEvent {
  type: 'tool.started';
  callId: string;
  tool: string;
  params?: unknown;
  /** The call in a person's words ("KPIs · this month"); the tool's name is for the tooltip. */
  label?: string | null;
}

export interface IToolFinishedEvent extends IBaseEvent {
  type: 'tool.finished';
  callId: string;
  tool: string;
  ok: boolean;
  durationMs?: number;
  artifactId?: string;
  error?: string | { code?: string; message?: string };
}

/** A running tool's progress (run_python): sent live, never replayed by `resume`. */
export interface IToolProgressEvent extends IBaseEvent {
  type: 'tool.progress';
  callId: string;
  tool: string;
  elapsedMs?: number;
  /** The tail of its output so far. */
  output?: string;
  /** Its place in the queue while it waits to run. */
  queuePosition?: number;
}

export interface IArtifactEvent extends IBaseEvent {
  type: 'artifact';
  artifact: IArtifact;
}

export interface ITypingEvent extends IBaseEvent {
  type: 'typing';
  user: string;
}

export interface IErrorEvent extends IBaseEvent {
  type: 'error';
  code: string;
  message: string;
  /** Seconds until trying again can work (rate limits). */
  retryAfter?: number;
}

export interface IPongEvent extends IBaseEvent {
  type: 'pong';
}

export type ServerEvent =
  | IReadyEvent
  | IMessageCreatedEvent
  | IAssistantDeltaEvent
  | IAssistantDoneEvent
  | IToolStartedEvent
  | IToolFinishedEvent
  | IToolProgressEvent
  | IArtifactEvent
  | ITypingEvent
  | IErrorEvent
  | IPongEvent;

/** Parse one text frame; returns null for anything that is not an event object. */
export function parseEvent(data: unknown): ServerEvent | null {
  if (typeof data !== 'string') {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as { type?: unknown }).type !== 'string'
  ) {
    return null;
  }
  return value as ServerEvent;
}

/** A random id with a prefix; works outside secure contexts too. */
export function newId(prefix: string): string {
  const c: Crypto | undefined = (globalThis as { crypto?: Crypto }).crypto;
  const bytes = new Uint8Array(10);
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) {
      bytes[i] = Math.floor(Math.random() * 256);
    }
  }
  // 20 hex chars, like the server's own ids (`conv_<20 hex>`).
  return `${prefix}_${Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')}`;
}
