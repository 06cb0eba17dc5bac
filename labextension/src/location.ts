/**
 * Where Penny's engine answers: this Jupyter server (the personal default), or, for a server under
 * JupyterHub with a Penny service, the team's service on the same origin (`/services/penny/`).
 * The user's own server says which (`GET penny/api/location`); every Penny request and the chat
 * socket then go there with the page's token, which the hub's OAuth flow issued and the hub admin
 * scoped to reach the service (README, "Penny for teams").
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface ILocation {
  engine: 'here' | 'service';
  url?: string;
}

/** The settings for Penny's REST client and socket: `server`'s own, or the service's. */
export async function pennySettings(
  server: ServerConnection.ISettings
): Promise<ServerConnection.ISettings> {
  let where: ILocation;
  try {
    const response = await ServerConnection.makeRequest(
      URLExt.join(server.baseUrl, 'penny/api/location'),
      {},
      server
    );
    if (!response.ok) {
      return server; // an older Penny, or Penny refused here: its own requests will say why
    }
    where = (await response.json()) as ILocation;
  } catch {
    return server;
  }
  if (where.engine !== 'service' || typeof where.url !== 'string' || !where.url.startsWith('/')) {
    return server;
  }
  // Same origin as the page, the service's path: the hub's proxy routes it to the service.
  const page = new URL(server.baseUrl, window.location.href);
  const baseUrl = new URL(where.url, page).href;
  const wsUrl = baseUrl.replace(/^http/, 'ws');
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl,
    token: server.token,
    appendToken: true,
    init: server.init
  });
}
