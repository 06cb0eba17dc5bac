/**
 * Put Penny's output into a notebook: `%penny show <artifact_id>` cells (run, so the live widget
 * appears) and plain code cells from answers (not run). Uses the active notebook, or creates one.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ISessionContext } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';

export const INSERT_COMMAND = 'penny:insert-artifact';

const KERNEL_TIMEOUT_MS = 120000;

export interface IInsertOptions {
  /** Run the cell after inserting it. */
  run: boolean;
  /** Load the %penny magics in the kernel first (silently). */
  loadMagics: boolean;
}

export class NotebookInserter {
  constructor(
    private _app: JupyterFrontEnd,
    private _tracker: INotebookTracker | null
  ) {}

  /** `%penny show <id>` below the active cell, made active and run. */
  insertArtifact(artifactId: string, run = true): Promise<NotebookPanel> {
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(artifactId)) {
      // Ids go into code the kernel runs: accept only what the server itself issues.
      return Promise.reject(new Error(`Not an artifact id: ${artifactId}`));
    }
    return this.insertCode(`%penny show ${artifactId}`, { run, loadMagics: true });
  }

  /** An answer as a Markdown cell below the active one, rendered (no kernel is involved). */
  async insertMarkdown(text: string): Promise<NotebookPanel> {
    const panel = await this._cell(text, 'markdown');
    const cell = panel.content.activeCell as { rendered?: boolean } | null;
    if (cell && 'rendered' in cell) {
      cell.rendered = true;
    }
    return panel;
  }

  async insertCode(code: string, options: IInsertOptions = { run: false, loadMagics: false }): Promise<NotebookPanel> {
    const panel = await this._cell(code, 'code');
    const notebook = panel.content;
    if (options.run || options.loadMagics) {
      const kernel = await kernelReady(panel.sessionContext);
      if (options.loadMagics) {
        await loadMagics(kernel);
      }
      if (options.run) {
        await NotebookActions.run(notebook, panel.sessionContext);
      }
    }
    return panel;
  }

  /** A new cell of `type` holding `source` below the active one (or in place of a lone empty cell). */
  private async _cell(source: string, type: 'code' | 'markdown'): Promise<NotebookPanel> {
    const panel = await this._notebook();
    await panel.context.ready;
    const notebook = panel.content;
    const active = notebook.activeCell;
    const onlyEmpty =
      notebook.widgets.length === 1 && !!active && active.model.sharedModel.getSource().trim() === '';
    if (!onlyEmpty) {
      NotebookActions.insertBelow(notebook); // the new cell becomes the active one
    } else {
      notebook.deselectAll();
    }
    if (notebook.activeCell?.model.type !== type) {
      NotebookActions.changeCellType(notebook, type);
    }
    notebook.activeCell!.model.sharedModel.setSource(source);
    this._app.shell.activateById(panel.id);
    return panel;
  }

  private async _notebook(): Promise<NotebookPanel> {
    const current = this._tracker?.currentWidget;
    if (current) {
      return current;
    }
    const kernelName = this._app.serviceManager.kernelspecs.specs?.default ?? 'python3';
    const panel = (await this._app.commands.execute('notebook:create-new', {
      kernelName
    })) as NotebookPanel | undefined;
    if (!panel || !(panel instanceof NotebookPanel)) {
      throw new Error('Could not open a new notebook');
    }
    return panel;
  }
}

/** The session's kernel once it is connected and has left "starting". */
async function kernelReady(session: ISessionContext): Promise<Kernel.IKernelConnection> {
  await session.ready;
  const deadline = Date.now() + KERNEL_TIMEOUT_MS;
  for (;;) {
    const kernel = session.session?.kernel;
    if (
      kernel &&
      kernel.connectionStatus === 'connected' &&
      (kernel.status === 'idle' || kernel.status === 'busy')
    ) {
      return kernel;
    }
    if (session.hasNoKernel) {
      throw new Error('This notebook has no kernel: pick one, then insert again');
    }
    if (Date.now() > deadline) {
      throw new Error('The notebook kernel did not start in time');
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

/** `%load_ext penny_jupyter`, silently: nothing in the notebook, nothing in the history. */
async function loadMagics(kernel: Kernel.IKernelConnection): Promise<void> {
  const reply = await kernel.requestExecute({
    code: '%load_ext penny_jupyter',
    silent: true,
    store_history: false
  }).done;
  if (reply.content.status !== 'ok') {
    throw new Error(
      'This kernel cannot load penny_jupyter; install penny-jupyter in its environment'
    );
  }
}
