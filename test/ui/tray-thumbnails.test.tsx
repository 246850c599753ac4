// @vitest-environment happy-dom
// The tray's thumbnails are blob: URLs: a reference removed from the tray takes its thumbnail's URL with it, and
// is exported afresh if it is added again (the layer may have changed meanwhile).
import { cleanup, fireEvent, screen, within } from '@testing-library/preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { THUMBNAIL_EDGE } from '../../ui/panel';
import { type FakeMain, openPanel, settle, trayOf } from './helpers';

const live = new Set<string>();
const { createObjectURL, revokeObjectURL } = URL;
beforeEach(() => {
  live.clear();
  URL.createObjectURL = (blob: Blob) => {
    const made = createObjectURL(blob);
    live.add(made);
    return made;
  };
  URL.revokeObjectURL = (url: string) => {
    live.delete(url);
    revokeObjectURL(url);
  };
});
afterEach(() => {
  cleanup();
  URL.createObjectURL = createObjectURL;
  URL.revokeObjectURL = revokeObjectURL;
});

/** Plays main's answer to the panel's last thumbnail export. */
function answerThumbnails(main: FakeMain): string[] {
  const request = main
    .sentNamed('EXPORT_REFERENCES')
    .filter((r) => r.maxEdge === THUMBNAIL_EDGE)
    .at(-1);
  if (!request) return [];
  for (const [index, nodeId] of request.nodeIds.entries()) {
    main.emit('REFERENCE_EXPORTED', {
      requestId: request.requestId,
      index,
      total: request.nodeIds.length,
      image: { nodeId, name: nodeId, mime: 'image/png', width: 4, height: 4, bytes: new Uint8Array([index]) },
    });
  }
  main.emit('REFERENCES_EXPORTED', { requestId: request.requestId, nodeIds: request.nodeIds, missing: [] });
  return request.nodeIds;
}

describe('tray thumbnails', () => {
  it('Remove revokes the thumbnail’s blob: URL; the reference added again gets a fresh one', async () => {
    const { main } = await openPanel({ tray: trayOf(2), targets: [] });
    expect(answerThumbnails(main)).toEqual(['9:0', '9:1']);
    await settle();
    expect(live.size).toBe(2);
    const list = screen.getByRole('list', { name: 'References' });
    fireEvent.click(within(list).getAllByRole('button', { name: 'Remove' })[0] as HTMLElement);
    await settle();
    expect(live.size).toBe(1);

    main.emit('SELECTION_CHANGED', {
      targets: [],
      unusable: [{ id: '9:0', name: 'Ref 1', type: 'GROUP', reason: 'a group holds no fills' }],
      selectionCount: 1,
    });
    fireEvent.click(screen.getByRole('button', { name: 'Add selection as references' }));
    await settle();
    expect(answerThumbnails(main)).toEqual(['9:0']);
    await settle();
    expect(live.size).toBe(2);
  });
});
