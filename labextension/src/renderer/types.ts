import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';

export interface IArtifact {
  id: string;
  tenant?: string;
  type: 'dashboard' | 'chart' | 'table' | 'document' | 'code' | 'image' | string;
  title: string;
  version: number;
  spec: any;
  createdAt?: string;
  source?: { tool: string; params: Record<string, unknown> };
  conversationId?: string | null;
  /** Who may see it, and whether the caller may change that (server metadata; never drawn here). */
  owner?: string;
  sharing?: ISharing;
  canShare?: boolean;
  /** Whether the caller may make download links and new versions (its author, or an admin; never a viewer). */
  canPublish?: boolean;
}

/** Who an artifact or conversation is shared with, besides its owner. */
export interface ISharing {
  /** Everyone in the owner's tenant. */
  tenant: boolean;
  /** Usernames, in the owner's tenant. */
  users: string[];
}

export interface IRenderOptions {
  /** Sidebar preview: narrow width, tables capped at ~5 rows, charts shorter. */
  compact?: boolean;
  /** For document (markdown) and code highlighting; falls back to <pre> when absent. */
  rendermime?: IRenderMimeRegistry;
  /** "Insert as cell" on code artifacts (the button is shown only when this is given). */
  onInsertCode?: (code: string) => void;
}

export interface IRenderedArtifact {
  /** Resolves when every widget has been drawn (plotly promises settled + one animation frame). */
  readonly painted: Promise<void>;
  /** A PNG snapshot as a data: URL (see index.ts for what each type gives). */
  toPNG(): Promise<string>;
  dispose(): void;
}

/** What each widget renderer hands back to the dashboard. */
export interface IWidgetView {
  node: HTMLElement;
  /** Resolves when drawn; synchronous widgets leave it out. */
  painted?: Promise<void>;
  /** A PNG data: URL of this widget, when it can make one (charts). */
  toPNG?: () => Promise<string>;
  dispose?: () => void;
}

export interface IWidgetContext {
  compact: boolean;
  rendermime?: IRenderMimeRegistry;
  onInsertCode?: (code: string) => void;
}
