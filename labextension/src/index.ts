import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { pennyIcon } from './icon';
import { PennyPanel } from './panel';
import { PennySocket } from './socket';

export namespace CommandIDs {
  export const openChat = 'penny:open-chat';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'penny-jupyter:plugin',
  description: 'Penny: the AI analyst chat sidebar.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const socket = new PennySocket({ serverSettings: app.serviceManager.serverSettings });
    const panel = new PennyPanel({ socket });
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
    if (palette) {
      palette.addItem({ command: CommandIDs.openChat, category: 'Penny' });
    }

    socket.connect();
    panel.disposed.connect(() => socket.dispose());
  }
};

export default plugin;
