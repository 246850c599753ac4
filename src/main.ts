// Plugin main thread (Figma's sandbox: no DOM, no network). Shows the panel, reports the selection as
// image targets, exports references, places generated images and keeps the panel's storage.
import { MAX_REFERENCE_MAX_EDGE, MAX_REFERENCES, MIN_REFERENCE_MAX_EDGE } from '../core/limits';
import type { MainToPanelPayload } from '../core/messages';
import { notifyText } from '../core/messages';
import { listen, type Refused, send } from './bridge';
import { placeImage, swapImage } from './place';
import { decodeProvenance, PROVENANCE_KEY } from './provenance';
import { exportReferences } from './references';
import { exportEdit, fillImageOf } from './region';
import { describeSelection, type LastKnownPlace } from './selection';
import { loadStorage, StorageFullError, type Stored, savePlacedJob, saveStorage } from './storage';

// create-figma-plugin's showUI expects a JS-only UI; ui.html is a whole page, so call Figma directly.
// themeColors gives the panel Figma's light/dark CSS variables: https://developers.figma.com/docs/plugins/creating-ui
figma.showUI(__html__, { themeColors: true, width: 360, height: 640, title: 'Framefill' });

const RELAUNCH_COMMAND = 'regenerate';
const MAX_REMEMBERED_PLACES = 2_000;

const stored: Promise<Stored> = loadStorage();
const places = new Map<string, LastKnownPlace>();
let density = 2;
let panelReady = false;
let exportQueue: Promise<void> = Promise.resolve();

function remember(found: ReadonlyMap<string, LastKnownPlace>): void {
  for (const [id, place] of found) {
    places.delete(id);
    places.set(id, place);
  }
  // Oldest first in a Map's order: forget the oldest beyond the cap.
  for (const id of places.keys()) {
    if (places.size <= MAX_REMEMBERED_PLACES) break;
    places.delete(id);
  }
}

let selectionPosts = 0;
function postSelection(): void {
  const selection = figma.currentPage.selection;
  const { targets, withImage, unusable, places: found } = describeSelection(selection, density);
  remember(found);
  const post = ++selectionPosts;
  if (withImage.size === 0) {
    send('SELECTION_CHANGED', { targets, unusable, selectionCount: selection.length });
    return;
  }
  // Image fills are read asynchronously (their size); a newer selection's answer wins over a late one.
  void Promise.all(
    targets.map(async (target) => {
      const node = withImage.has(target.id) ? selection.find((n) => n.id === target.id) : undefined;
      const image = node ? await fillImageOf(node).catch(() => undefined) : undefined;
      return image ? { ...target, image } : target;
    }),
  ).then((withImages) => {
    if (post === selectionPosts)
      send('SELECTION_CHANGED', { targets: withImages, unusable, selectionCount: selection.length });
  });
}

/** Run from a node's Regenerate button: Figma sets figma.command and selects that node. */
async function relaunchTarget(): Promise<MainToPanelPayload<'STORAGE_LOADED'>['relaunch']> {
  if (figma.command !== RELAUNCH_COMMAND) return null;
  for (const node of figma.currentPage.selection) {
    const provenance = decodeProvenance(node.getPluginData(PROVENANCE_KEY));
    if (provenance) {
      if (figma.currentPage.selection.length !== 1) figma.currentPage.selection = [node];
      return { targetId: node.id, provenance };
    }
  }
  return null;
}

const relaunch = relaunchTarget().catch(() => null);

/** Answers a request the message schema refused, so the panel never waits on it forever. */
function answerRefused({ name, requestId, reason }: Refused): void {
  const detail = reason.replace(/^invalid [A-Z_]+: /, '');
  if (name === 'EXPORT_REFERENCES') {
    send('REFERENCES_EXPORTED', {
      requestId,
      nodeIds: [],
      missing: [],
      error: /^maxEdge\b/.test(detail)
        ? `Framefill could not export the references: the reference size must be ${MIN_REFERENCE_MAX_EDGE}–${MAX_REFERENCE_MAX_EDGE} px (${detail}). Change it in Settings and try again.`
        : `Framefill could not export the references: the request was refused (${detail}). Try again with at most ${MAX_REFERENCES} references.`,
    });
  } else if (name === 'PLACE_IMAGE' || name === 'SWAP_IMAGE') {
    send('PLACE_FAILED', {
      requestId,
      code: 'place_failed',
      message: `The image could not be placed: the request was refused (${detail}). The image is kept in the panel.`,
    });
  }
}

listen(
  {
    async PANEL_READY() {
      const loaded = await stored;
      density = loaded.settings.density;
      const relaunched = await relaunch;
      const notices = [loaded.notice];
      if (figma.command === RELAUNCH_COMMAND && !relaunched) {
        notices.push("This layer's Framefill details could not be read: write a new prompt.");
      }
      const notice = notices.filter(Boolean).join(' ');
      send('STORAGE_LOADED', {
        settings: loaded.settings,
        tray: loaded.tray,
        pendingJobs: loaded.pendingJobs,
        relaunch: relaunched,
        ...(notice ? { notice } : {}),
      });
      panelReady = true;
      postSelection();
    },
    EXPORT_REFERENCES(request) {
      // One request at a time, so two overlapping requests never interleave their exports; a failed one never
      // stops the queue for the next.
      const run = exportQueue.then(() => exportReferences(request));
      exportQueue = run.catch(() => undefined);
      return run;
    },
    EXPORT_EDIT(request) {
      const run = exportQueue.then(() => exportEdit(request));
      exportQueue = run.catch(() => undefined);
      return run;
    },
    async PLACE_IMAGE(request) {
      const { placedJobs, documentId } = await stored;
      const { jobId } = request.provenance;
      // The panel may resend a job it placed if it closed before IMAGE_PLACED arrived: answer, don't place twice.
      const already = request.again ? undefined : placedJobs.find((placed) => placed.jobId === jobId);
      const node = already ? await figma.getNodeByIdAsync(already.nodeId) : null;
      if (already && node && !node.removed) {
        send('IMAGE_PLACED', { requestId: request.requestId, nodeId: already.nodeId, createdFrame: false });
        return;
      }
      const nodeId = await placeImage(request, { density, places });
      if (nodeId) await savePlacedJob(documentId, placedJobs, { jobId, nodeId }).catch(() => undefined);
      // The target's image changed: what the panel may offer for it (edit, expand) changes with it.
      if (nodeId && panelReady) postSelection();
    },
    async SWAP_IMAGE(request) {
      await swapImage(request);
    },
    async SAVE_STORAGE(save) {
      const { documentId } = await stored;
      try {
        await saveStorage(documentId, save);
      } catch (error) {
        // https://developers.figma.com/docs/plugins/api/figma-clientStorage — 5 MB per plugin, for every file.
        figma.notify(
          error instanceof StorageFullError
            ? "Framefill's storage is full: running jobs won't resume if the panel closes. Keep it open."
            : 'Framefill could not save its settings (storage is full or unavailable).',
          { error: true },
        );
      }
      if (save.settings && save.settings.density !== density) {
        density = save.settings.density;
        if (panelReady) postSelection();
      }
    },
    NOTIFY({ message, error }) {
      figma.notify(notifyText(message), { error: Boolean(error) });
    },
    RESIZE({ width, height }) {
      figma.ui.resize(width, height);
    },
  },
  answerRefused,
);

// https://developers.figma.com/docs/plugins/api/properties/figma-on
figma.on('selectionchange', () => {
  if (panelReady) postSelection();
});

// Undo and redo change which variation a layer shows without the panel asking: a layer's provenance says which,
// so every change to it is told. The page's `nodechange`, not `documentchange`, which under dynamic-page access
// first needs every page loaded (https://developers.figma.com/docs/plugins/api/PageNode#on).
function postLayerVariations({ nodeChanges }: NodeChangeEvent): void {
  if (!panelReady) return;
  for (const change of nodeChanges) {
    if (change.type !== 'PROPERTY_CHANGE' || !change.properties.includes('pluginData')) continue;
    const node = change.node;
    if (node.removed) continue;
    const provenance = decodeProvenance(node.getPluginData(PROVENANCE_KEY));
    if (!provenance) continue;
    send('LAYER_VARIATION', { nodeId: node.id, jobId: provenance.jobId, variation: provenance.variation ?? 0 });
  }
}
let watchedPage = figma.currentPage;
watchedPage.on('nodechange', postLayerVariations);
figma.on('currentpagechange', () => {
  watchedPage.off('nodechange', postLayerVariations);
  watchedPage = figma.currentPage;
  watchedPage.on('nodechange', postLayerVariations);
});
