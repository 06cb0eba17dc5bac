/**
 * Tool cards and artifact cards for the thread, plus the artifact actions they offer
 * (download, signed link, share, fullscreen). Server text only ever goes in through
 * textContent; artifact previews are drawn by the shared renderer.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Clipboard, MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { PennyApi } from './api';
import { el } from './dom';
import type { ISharing, ISignedLink, IToolFinishedEvent, IToolStartedEvent } from './protocol';
import { IArtifact, IRenderedArtifact, renderArtifact } from './renderer';
import {
  IShareState,
  LinkBox,
  LinkFormat,
  SharePanel,
  defaultLinkFormat,
  describeSharing,
  isShared,
  normalizeSharing
} from './share';

export { el };

export type ExportFormat = 'csv' | 'json' | 'html' | 'png';

/** What an artifact card's buttons do; the panel wires them to the app. */
export interface IArtifactActions {
  insert(artifact: IArtifact): Promise<void>;
  download(artifact: IArtifact, format: ExportFormat, rendered?: IRenderedArtifact): Promise<void>;
  fullscreen(artifact: IArtifact): void;
  /** A signed link to an export that works without Jupyter auth until it expires. */
  link(artifact: IArtifact, format: LinkFormat): Promise<ISignedLink>;
  /** Store who the artifact is shared with; resolves to what the server stored. */
  share(artifact: IArtifact, sharing: ISharing): Promise<ISharing>;
  /** The signed-in user (from the socket's `ready`), to say "you" instead of a name. */
  currentUser(): string | null;
  /** Who a conversation is shared with (they see its artifacts too), if the list knows. */
  conversationSharing(conversationId: string): ISharing | null;
  /** For the previews (Markdown documents, code highlighting). */
  rendermime: IRenderMimeRegistry | null;
}

export function formatDuration(ms: number | undefined): string {
  if (typeof ms !== 'number' || !isFinite(ms)) {
    return '';
  }
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `period=MTD · unit=company`: short enough for one line in the sidebar. */
function formatParams(params: unknown): string {
  if (!params || typeof params !== 'object') {
    return '';
  }
  return Object.entries(params as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined) // defaults the tool filled in say nothing
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' · ');
}

function errorSentence(error: IToolFinishedEvent['error']): string {
  if (!error) {
    return '';
  }
  return typeof error === 'string' ? error : error.message || error.code || '';
}

// ---------------------------------------------------------------- tool card

/** The code a call ran, shown as itself (not `query=…`); other tools' params are said by their label. */
const CODE_PARAM: Record<string, string> = { run_sql: 'query', run_python: 'code' };

/**
 * One tool call: what it is about in words ("KPIs · this month"; the tool's name in the tooltip),
 * running/done/failed, duration, the query or code it ran, and the error's sentence.
 */
export class ToolCard {
  constructor(event: IToolStartedEvent | IToolFinishedEvent) {
    this.node = el('div', 'penny-tool');
    this.node.dataset.callId = event.callId;
    this.node.dataset.tool = event.tool;
    const head = el('div', 'penny-tool-head');
    head.append(el('span', 'penny-tool-icon'), this._name, this._status, this._duration);
    this._name.textContent = event.tool;
    this._name.title = event.tool;
    this.node.append(head, this._params, this._error);
    this._params.hidden = true;
    this._error.hidden = true;
    if (event.type === 'tool.started') {
      this.started(event);
    } else {
      this.finished(event);
    }
  }

  readonly node: HTMLElement;

  started(event: IToolStartedEvent): void {
    this._setStatus('running', 'running…');
    if (event.label) {
      this._name.textContent = event.label;
    }
    const code = CODE_PARAM[event.tool];
    const raw = (event.params ?? {}) as Record<string, unknown>;
    const params =
      code && typeof raw[code] === 'string'
        ? (raw[code] as string).replace(/\s+/g, ' ').trim()
        : event.label
          ? ''
          : formatParams(event.params);
    this._params.textContent = params;
    this._params.title = params;
    this._params.hidden = !params;
  }

  finished(event: IToolFinishedEvent): void {
    this._setStatus(event.ok ? 'ok' : 'failed', event.ok ? 'done' : 'failed');
    this._duration.textContent = formatDuration(event.durationMs);
    const err = event.ok ? '' : errorSentence(event.error);
    this._error.textContent = err;
    this._error.hidden = !err;
  }

  private _setStatus(status: string, label: string): void {
    this.node.dataset.status = status;
    this._status.textContent = label;
  }

  private _name = el('span', 'penny-tool-name');
  private _status = el('span', 'penny-tool-status');
  private _duration = el('span', 'penny-tool-duration');
  private _params = el('div', 'penny-tool-params');
  private _error = el('div', 'penny-tool-error');
}

// ---------------------------------------------------------------- artifact card

/**
 * An artifact with a live compact preview and Insert / Download (HTML, CSV, JSON, PNG) / Link /
 * Share / Fullscreen. The link box and the share panel outlive `update` (a new version).
 */
export class ArtifactCard {
  constructor(artifact: IArtifact, private _actions: IArtifactActions) {
    this.node = el('div', 'penny-artifact');
    this._note = el('div', 'penny-artifact-note');
    this._note.setAttribute('role', 'alert');
    this._link = new LinkBox({
      create: format => this._actions.link(this.artifact, format),
      onError: err => this._showNote(err)
    });
    this._share = new SharePanel({
      what: String(artifact.type || 'artifact'),
      save: sharing => this._actions.share(this.artifact, sharing),
      currentUser: () => this._actions.currentUser(),
      via: () => this._via(),
      onClose: () => {
        this._toggleShare();
        this._shareButton.focus();
      },
      onSaved: sharing => this.setShareState({ ...this._shareState, sharing })
    });
    this._share.node.id = `penny-share-${artifact.id}`;
    this._share.node.hidden = true;
    this.update(artifact);
  }

  readonly node: HTMLElement;

  get artifact(): IArtifact {
    return this._artifact!;
  }

  /**
   * Who may see it, as the server says now (REST or a save). From then on the card ignores the
   * sharing in `artifact` events: a rebuilt thread replays them as they were first sent.
   */
  setShareState(state: IShareState): void {
    this._shareState = { ...state, sharing: normalizeSharing(state.sharing) };
    this._shareFresh = true;
    this.renderSharing();
  }

  /** Redraw what the card says about sharing (e.g. its conversation's sharing changed). */
  renderSharing(): void {
    this._share.setState(this._shareState);
    this._renderShare();
  }

  update(artifact: IArtifact): void {
    this._artifact = artifact;
    if (!this._shareFresh) {
      const { owner, sharing, canShare } = artifact;
      this._shareState = { owner, sharing: normalizeSharing(sharing), canShare };
    }
    this._rendered?.dispose();
    this._rendered = null;
    const node = this.node;
    node.replaceChildren();
    node.dataset.artifactId = artifact.id;
    node.dataset.artifactType = String(artifact.type ?? '');
    node.dataset.version = String(artifact.version ?? '');

    const head = this._head(artifact);
    const preview = el('div', 'penny-artifact-preview');
    const actions = this._actionsRow(artifact);
    this._note.hidden = true;
    const expand = this._expandControl(preview);
    node.append(head, preview, expand, actions, this._link.node, this._share.node, this._note);
    this._share.setState(this._shareState);
    this._renderShare();
    this._renderPreview(preview, expand);
  }

  dispose(): void {
    this._rendered?.dispose();
    this._rendered = null;
  }

  /** The preview draws the title (with the period); this line says what and which version. */
  private _head(artifact: IArtifact): HTMLElement {
    const head = el('div', 'penny-artifact-card-head');
    this._sharedChip = el('span', 'penny-artifact-shared', 'Shared');
    head.append(
      el('span', 'penny-artifact-badge', String(artifact.type || 'artifact')),
      el('span', 'penny-artifact-version', `v${artifact.version ?? 1}`),
      this._sharedChip,
      el('span', 'penny-artifact-id', artifact.id)
    );
    head.title = artifact.title || artifact.id;
    return head;
  }

  /** Insert, then two groups that wrap as units: in a narrow sidebar the downloads take the second row. */
  private _actionsRow(artifact: IArtifact): HTMLElement {
    const actions = el('div', 'penny-artifact-actions');
    const insert = this._button('insert', 'Insert into notebook', 'Add a cell that shows this artifact live, and run it', () =>
      this._actions.insert(this.artifact)
    );
    insert.classList.add('penny-artifact-primary');
    actions.append(insert, this._toolsGroup(artifact), this._downloadsGroup());
    return actions;
  }

  /** Link, Share, Fullscreen. */
  private _toolsGroup(artifact: IArtifact): HTMLElement {
    this._shareButton = this._button('share', 'Share', 'Choose who else can see this', async () =>
      this._toggleShare()
    );
    this._shareButton.setAttribute('aria-controls', this._share.node.id);
    this._shareButton.setAttribute('aria-expanded', String(!this._share.node.hidden));
    const tools = el('span', 'penny-artifact-group');
    tools.append(
      this._linkButton(artifact),
      this._shareButton,
      this._button('fullscreen', 'Fullscreen', 'Open full size in the main area', async () =>
        this._actions.fullscreen(this.artifact)
      ),
      this._copyCellButton()
    );
    return tools;
  }

  /** The cell that shows this artifact (`%penny show art_…`), for a notebook Insert cannot reach. */
  private _copyCellButton(): HTMLButtonElement {
    const b = this._button('copy-cell', 'Copy cell', 'Copy the notebook cell that shows this artifact', async () => {
      Clipboard.copyToSystem(`%penny show ${this.artifact.id}`);
      b.textContent = 'Copied';
      window.setTimeout(() => (b.textContent = 'Copy cell'), 1500);
    });
    return b;
  }

  private _linkButton(artifact: IArtifact): HTMLButtonElement {
    const link = this._button(
      'link',
      'Link',
      'Make a signed download link that works without signing in, until it expires',
      () => this._link.request(defaultLinkFormat(this.artifact.type))
    );
    if (artifact.canPublish === false) {
      // A permission, not a busy state: the server refuses links to readers (see sharing.require).
      link.disabled = true;
      link.dataset.locked = 'true';
      link.title =
        artifact.owner && artifact.owner !== this._actions.currentUser()
          ? `Only ${artifact.owner} (or an admin of your team) can make a link to this; you can download it`
          : 'Your role can read but not make links; ask an admin of your team for the member role';
    }
    return link;
  }

  private _downloadsGroup(): HTMLElement {
    const downloads = el('span', 'penny-artifact-group penny-artifact-downloads');
    downloads.setAttribute('role', 'group');
    downloads.setAttribute('aria-label', 'Download');
    downloads.append(
      el('span', 'penny-artifact-group-label', 'Download'),
      this._button('html', 'HTML', 'Download a self-contained web page of this artifact (opens offline)', () =>
        this._actions.download(this.artifact, 'html')
      ),
      this._button('csv', 'CSV', 'Download the numbers as CSV', () =>
        this._actions.download(this.artifact, 'csv')
      ),
      this._button('json', 'JSON', 'Download the artifact as JSON', () =>
        this._actions.download(this.artifact, 'json')
      ),
      this._button('png', 'PNG', 'Download the preview as a PNG image', () =>
        this._actions.download(this.artifact, 'png', this._rendered ?? undefined)
      )
    );
    return downloads;
  }

  /** A whole dashboard is several screens tall in a sidebar: show the top, expand on request. */
  private _expandControl(preview: HTMLElement): HTMLButtonElement {
    const expand = el('button', 'penny-artifact-expand', 'Show all');
    expand.type = 'button';
    expand.hidden = true;
    expand.addEventListener('click', () => {
      const open = preview.dataset.expanded !== 'true';
      preview.dataset.expanded = String(open);
      expand.textContent = open ? 'Show less' : 'Show all';
    });
    return expand;
  }

  /** Draw the compact preview; once painted, offer "Show all" only if it was clipped. */
  private _renderPreview(preview: HTMLElement, expand: HTMLButtonElement): void {
    try {
      this._rendered = renderArtifact(preview, this.artifact, {
        compact: true,
        rendermime: this._actions.rendermime ?? undefined
      });
      this._rendered.painted.then(
        () => {
          this.node.dataset.painted = 'true';
          const clipped = preview.scrollHeight > preview.clientHeight + 4;
          preview.dataset.clipped = String(clipped);
          expand.hidden = !clipped;
        },
        err => this._fail(preview, err)
      );
    } catch (err) {
      this._fail(preview, err);
    }
  }

  private _toggleShare(): void {
    const open = this._share.node.hidden;
    this._share.node.hidden = !open;
    this._shareButton.setAttribute('aria-expanded', String(open));
    if (open) {
      this._share.focus();
    }
  }

  /** The head's "Shared" chip and the Share button (hidden when the server says nothing about sharing). */
  private _renderShare(): void {
    const state = this._shareState;
    const via = this._via();
    const sentence = describeSharing(state, this._actions.currentUser(), via);
    const shared = isShared(state.sharing);
    this.node.dataset.shared = String(shared);
    this.node.dataset.sharedVia = String(isShared(via ?? undefined));
    this._sharedChip.hidden = !shared && !isShared(via ?? undefined);
    this._sharedChip.title = sentence;
    const b = this._shareButton;
    b.hidden = state.canShare === undefined;
    // Not a busy state (the shared :disabled style is): a permission, said in the tooltip.
    b.disabled = state.canShare === false;
    b.dataset.locked = String(state.canShare === false);
    b.title = state.canShare === false ? sentence : 'Choose who else can see this';
    if (b.disabled && !this._share.node.hidden) {
      this._toggleShare();
    }
  }

  /** The sharing of the conversation the artifact was made in (its readers see the artifact). */
  private _via(): ISharing | null {
    const cid = this._artifact?.conversationId;
    return cid ? this._actions.conversationSharing(cid) : null;
  }

  private _showNote(err: unknown): void {
    this._note.textContent = (err as Error)?.message ?? String(err);
    this._note.hidden = false;
  }

  private _fail(preview: HTMLElement, err: unknown): void {
    console.warn('Penny: preview failed', err);
    preview.replaceChildren(
      el('div', 'penny-artifact-preview-error', 'The preview could not be drawn; Fullscreen or Insert may still work.')
    );
  }

  private _button(
    action: string,
    label: string,
    title: string,
    run: () => Promise<void>
  ): HTMLButtonElement {
    const b = el('button', 'penny-artifact-action', label);
    b.type = 'button';
    b.title = title;
    b.dataset.action = action;
    b.addEventListener('click', async () => {
      b.disabled = true;
      this._note.hidden = true;
      try {
        await run();
      } catch (err) {
        this._showNote(err);
      } finally {
        b.disabled = b.dataset.locked === 'true';
      }
    });
    return b;
  }

  private _artifact: IArtifact | null = null;
  private _rendered: IRenderedArtifact | null = null;
  private _note: HTMLElement;
  private _link: LinkBox;
  private _share: SharePanel;
  private _shareState: IShareState = {};
  /** Set from REST or a save: newer than what a replayed `artifact` event carries. */
  private _shareFresh = false;
  private _shareButton!: HTMLButtonElement;
  private _sharedChip!: HTMLElement;
}

// ---------------------------------------------------------------- actions

/** Save a Blob (or data: URL) as a file through a temporary link. */
export function saveFile(data: Blob | string, filename: string): void {
  const href = typeof data === 'string' ? data : URL.createObjectURL(data);
  const a = el('a');
  a.href = href;
  a.download = filename;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  if (typeof data !== 'string') {
    // Give the browser a moment to start the download before the URL goes away.
    window.setTimeout(() => URL.revokeObjectURL(href), 10000);
  }
}

function safeName(artifact: IArtifact): string {
  return (artifact.title || artifact.id).replace(/[\\/:*?"<>|]+/g, '-').trim() || artifact.id;
}

/**
 * CSV and JSON come from the server (with the page's auth); PNG is drawn in the page from
 * `rendered`, or from a throwaway off-screen render when the caller has none.
 */
export async function exportArtifact(
  api: PennyApi,
  artifact: IArtifact,
  format: ExportFormat,
  options: { rendered?: IRenderedArtifact; rendermime?: IRenderMimeRegistry | null } = {}
): Promise<void> {
  if (format !== 'png') {
    const { blob, filename } = await api.downloadArtifact(artifact.id, format);
    saveFile(blob, filename);
    return;
  }
  let rendered = options.rendered;
  let host: HTMLElement | null = null;
  if (!rendered) {
    host = el('div', 'penny-offscreen');
    document.body.append(host);
    rendered = renderArtifact(host, artifact, { rendermime: options.rendermime ?? undefined });
  }
  try {
    await rendered.painted;
    saveFile(await rendered.toPNG(), `${safeName(artifact)}.png`);
  } finally {
    if (host) {
      rendered.dispose();
      host.remove();
    }
  }
}

/** The full-size render in a main-area tab (one per artifact id; reused if open). */
export function openFullscreen(
  app: JupyterFrontEnd,
  artifact: IArtifact,
  rendermime: IRenderMimeRegistry | null
): MainAreaWidget {
  const id = `penny-artifact-${artifact.id}`;
  for (const w of app.shell.widgets('main')) {
    if (w.id === id) {
      app.shell.activateById(id);
      return w as MainAreaWidget;
    }
  }
  const content = new Widget();
  content.addClass('penny-fullscreen');
  const rendered = renderArtifact(content.node, artifact, { rendermime: rendermime ?? undefined });
  content.disposed.connect(() => rendered.dispose());
  const widget = new MainAreaWidget({ content });
  widget.id = id;
  widget.title.label = artifact.title || artifact.id;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
  return widget;
}
