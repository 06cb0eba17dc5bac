/**
 * Typed client for Penny's REST API (`{base}penny/api/`), over ServerConnection so the page's
 * token, cookie and XSRF header go with every request. Failures become an Error carrying the
 * server's own sentence (`{"error": {"code", "message"}}`), never a raw status line.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  IAdminOverview,
  IArtifact,
  IChatMessage,
  IConversation,
  IMe,
  IModelList,
  ISharing,
  ISignedLink
} from './protocol';

export type DownloadFormat = 'csv' | 'json' | 'html';

/** An Error with the server's code and HTTP status. */
export class PennyApiError extends Error {
  constructor(message: string, readonly code: string, readonly status: number) {
    super(message);
    this.name = 'PennyApiError';
  }
}

export class PennyApi {
  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  readonly settings: ServerConnection.ISettings;

  /** The models that can answer, and the server's default (with the reason for it). */
  listModels(): Promise<IModelList> {
    return this._json<IModelList>('models');
  }

  /** Who the server says the caller is: user, tenant, roles. */
  me(): Promise<IMe> {
    return this._json<IMe>('me');
  }

  /** The tenant admin panel's data; refused (403 admin_only) unless the caller is an admin. */
  admin(): Promise<IAdminOverview> {
    return this._json<IAdminOverview>('admin');
  }

  listConversations(): Promise<IConversation[]> {
    return this._json<{ conversations: IConversation[] }>('conversations').then(
      r => r.conversations
    );
  }

  createConversation(body: { title?: string; id?: string } = {}): Promise<IConversation> {
    return this._json('conversations', { method: 'POST', body: JSON.stringify(body) });
  }

  getConversation(id: string): Promise<IConversation> {
    return this._json(`conversations/${enc(id)}`);
  }

  renameConversation(id: string, title: string): Promise<IConversation> {
    return this._json(`conversations/${enc(id)}`, {
      method: 'PATCH',
      body: JSON.stringify({ title })
    });
  }

  async deleteConversation(id: string): Promise<void> {
    await this._fetch(`conversations/${enc(id)}`, { method: 'DELETE' });
  }

  listMessages(conversationId: string): Promise<IChatMessage[]> {
    return this._json<{ messages: IChatMessage[] }>(
      `conversations/${enc(conversationId)}/messages`
    ).then(r => r.messages);
  }

  listArtifacts(conversationId?: string): Promise<IArtifact[]> {
    const q = conversationId ? `?conversationId=${enc(conversationId)}` : '';
    return this._json<{ artifacts: IArtifact[] }>(`artifacts${q}`).then(r => r.artifacts);
  }

  getArtifact(id: string, version?: number): Promise<IArtifact> {
    const q = typeof version === 'number' ? `?version=${version}` : '';
    return this._json(`artifacts/${enc(id)}${q}`);
  }

  /** The artifact as a notebook output's mime bundle (live data plus its text/html and text/plain copies). */
  getBundle(id: string, version?: number): Promise<Record<string, unknown>> {
    const q = typeof version === 'number' ? `?version=${version}` : '';
    return this._json(`artifacts/${enc(id)}/bundle${q}`);
  }

  /** Re-runs the artifact's source tool; the server answers with the new version. */
  refreshArtifact(id: string): Promise<IArtifact> {
    return this._json(`artifacts/${enc(id)}/refresh`, { method: 'POST', body: '{}' });
  }

  /** The export as a Blob plus the file name the server suggests. */
  async downloadArtifact(
    id: string,
    format: DownloadFormat
  ): Promise<{ blob: Blob; filename: string }> {
    const response = await this._fetch(`artifacts/${enc(id)}/download?format=${format}`);
    const disposition = response.headers.get('Content-Disposition') ?? '';
    const match = /filename="?([^";]+)"?/i.exec(disposition);
    return { blob: await response.blob(), filename: match?.[1] ?? `${id}.${format}` };
  }

  /** A signed link to the export that works without Jupyter auth until it expires. */
  createLink(
    id: string,
    format: DownloadFormat,
    expiresIn?: number
  ): Promise<ISignedLink> {
    const body: { format: DownloadFormat; expiresIn?: number } = { format };
    if (typeof expiresIn === 'number') {
      body.expiresIn = expiresIn;
    }
    return this._json(`artifacts/${enc(id)}/links`, {
      method: 'POST',
      body: JSON.stringify(body)
    });
  }

  /** Replaces who the artifact is shared with; answers with what the server stored. */
  shareArtifact(id: string, sharing: ISharing): Promise<ISharing> {
    return this._share(`artifacts/${enc(id)}/sharing`, sharing);
  }

  shareConversation(id: string, sharing: ISharing): Promise<ISharing> {
    return this._share(`conversations/${enc(id)}/sharing`, sharing);
  }

  private async _share(path: string, sharing: ISharing): Promise<ISharing> {
    const body = { tenant: !!sharing.tenant, users: [...sharing.users] };
    const r = await this._json<{ sharing?: ISharing }>(path, {
      method: 'PUT',
      body: JSON.stringify(body)
    });
    return r.sharing ?? body;
  }

  private async _json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this._fetch(path, init);
    return (await response.json()) as T;
  }

  private async _fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = URLExt.join(this.settings.baseUrl, 'penny/api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      throw new PennyApiError(
        `Could not reach the Penny server: ${(err as Error).message ?? err}`,
        'network',
        0
      );
    }
    if (!response.ok) {
      let code = 'http_error';
      let message = `${response.status} ${response.statusText}`.trim();
      try {
        const body = await response.json();
        if (body?.error?.message) {
          message = String(body.error.message);
          code = String(body.error.code ?? code);
        }
      } catch {
        // Not JSON (a proxy's page): keep the status line.
      }
      throw new PennyApiError(message, code, response.status);
    }
    return response;
  }
}

function enc(value: string): string {
  return encodeURIComponent(value);
}
