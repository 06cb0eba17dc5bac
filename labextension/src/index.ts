/**
 * Penny's JupyterLab plugin: builds the socket, REST client, sidebar, notebook inserter and
 * `window.PennyJupyter`, and registers the commands. Each part lives in its own module.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { setupAdmin } from './admin';
import { PennyApi } from './api';
import { IArtifactActions, exportArtifact, openFullscreen } from './cards';
import { installGlobal } from './global';
import { pennyIcon } from './icon';
import { INSERT_COMMAND, NotebookInserter } from './insert';
import { pennySettings } from './location';
import { INotebookContext, PennyPanel } from './panel';
import { PennySocket } from './socket';

const PLUGIN_ID = 'penny-jupyter:plugin';

export namespace CommandIDs {
  export const openChat = 'penny:open-chat';
  export const insertArtifact = INSERT_COMMAND;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Penny: the AI analyst chat sidebar.',
  autoStart: true,
  optional: [
    IRenderMimeRegistry,
    INotebookTracker,
    ISettingRegistry,
    ICommandPalette,
    ILayoutRestorer
  ],
  activate: async (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry | null,
    tracker: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    if (app.name === 'Voila') {
      // Voilà serves a notebook as a read-only app: no sidebar, socket or commands there; its Penny
      // outputs are drawn by the mime renderer (output.ts) alone.
      return;
    }
    // This server, or the team's Penny service when this server runs under a hub that has one.
    const serverSettings = await pennySettings(app.serviceManager.serverSettings);
    const api = new PennyApi(serverSettings);
    const socket = new PennySocket({ serverSettings });
    const inserter = new NotebookInserter(app, tracker);
    let autoRun = true;
    // Who the server says we are (kept across reconnects): sharing text says "you" for them.
    let me: string | null = null;
    socket.statusChanged.connect((_, status) => {
      me = status.ready?.user ?? me;
    });

    const actions: IArtifactActions = {
      rendermime,
      insert: async artifact => {
        await app.commands.execute(CommandIDs.insertArtifact, { artifactId: artifact.id });
      },
      download: (artifact, format, rendered) =>
        exportArtifact(api, artifact, format, { rendered, rendermime }),
      fullscreen: artifact => {
        openFullscreen(app, artifact, rendermime);
      },
      link: (artifact, format) => api.createLink(artifact.id, format),
      share: (artifact, sharing) => api.shareArtifact(artifact.id, sharing),
      currentUser: () => me,
      conversationSharing: id => panel.conversations.sharingOf(id)
    };

    const panel = new PennyPanel({
      socket,
      api,
      rendermime,
      actions,
      onInsertCode: code => {
        void inserter.insertCode(code).catch(err => panel.thread.showError(err.message));
      },
      onInsertMarkdown: text => {
        void inserter.insertMarkdown(text).catch(err => panel.thread.showError(err.message));
      },
      openSettings: () => void app.commands.execute('settingeditor:open', { query: 'Penny' }),
      notebookContext: () => activeCellContext(tracker)
    });
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, 'penny-chat');
    }

    app.commands.addCommand(CommandIDs.openChat, {
      label: 'Penny: Open Chat',
      caption: 'Open the Penny chat sidebar',
      icon: args => (args['isPalette'] ? undefined : pennyIcon),
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.insertArtifact, {
      label: 'Penny: Insert Artifact into Notebook',
      caption: 'Add a `%penny show <id>` cell below the active cell and run it',
      execute: async args => {
        const id = String(args['artifactId'] ?? '');
        await inserter.insertArtifact(id, autoRun);
      },
      describedBy: {
        args: {
          type: 'object',
          properties: { artifactId: { type: 'string', description: 'The artifact to show' } },
          required: ['artifactId']
        }
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.openChat, category: 'Penny' });
    }

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = (): void => {
            panel.sendOnEnter = settings.get('sendOnEnter').composite !== false;
            const model = settings.get('model').composite;
            panel.defaultModel = typeof model === 'string' ? model : '';
            autoRun = settings.get('runInsertedCells').composite !== false;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(err => console.warn('Penny: settings not loaded', err));
    }

    setupAdmin(app, api, panel.node, palette);
    installGlobal(app, api, rendermime, inserter);
    socket.connect();
    void panel.conversations.load();
    panel.disposed.connect(() => socket.dispose());
  }
};

export default plugin;


/** The active notebook's cell to attach to a question: its selected text, else its whole source. */
function activeCellContext(tracker: INotebookTracker | null): INotebookContext | null {
  const panel = tracker?.currentWidget;
  const cell = panel?.content.activeCell;
  if (!panel || !cell) {
    return null;
  }
  const source = cell.model.sharedModel.getSource();
  const index = panel.content.activeCellIndex + 1;
  const name = `${panel.context.localPath.split('/').pop()}, cell ${index}`;
  const editor = cell.editor;
  if (editor) {
    const sel = editor.getSelection();
    const from = editor.getOffsetAt(sel.start);
    const to = editor.getOffsetAt(sel.end);
    if (to !== from) {
      return { label: `${name} (selection)`, text: source.slice(Math.min(from, to), Math.max(from, to)) };
    }
  }
  return source.trim() ? { label: name, text: source } : null;
}

