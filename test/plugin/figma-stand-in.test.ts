// The Figma stand-in behaves as Figma's plugin docs say, for every behaviour the main thread relies on.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createFigma, encodeSolidPng, type FakeNode, readImageHeader } from '../../stand-in/figma';

const rgbPng = (w: number, h: number) => encodeSolidPng(w, h, { r: 1, g: 0, b: 0, a: 1 });

describe('Figma stand-in: exportAsync', () => {
  it('returns real PNG bytes, sized by SCALE, WIDTH or HEIGHT, in the node colour', async () => {
    const f = createFigma();
    const frame = f.frame(400, 300, { fill: { r: 0, g: 0.5, b: 1 } });
    const sizes = [];
    for (const constraint of [
      undefined,
      { type: 'SCALE', value: 2 },
      { type: 'WIDTH', value: 100 },
      { type: 'HEIGHT', value: 100 },
    ]) {
      const bytes = await frame.exportAsync({ format: 'PNG', ...(constraint ? { constraint } : {}) });
      const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      sizes.push([info.width, info.height]);
      expect([...data.subarray(0, 4)]).toEqual([0, 128, 255, 255]);
      expect(readImageHeader(bytes)).toEqual({ format: 'png', width: info.width, height: info.height });
    }
    expect(sizes).toEqual([
      [400, 300],
      [800, 600],
      [100, 75],
      [133, 100],
    ]);
  });

  it('refuses to export a removed node', async () => {
    const f = createFigma();
    const frame = f.frame(10, 10);
    frame.remove();
    await expect(frame.exportAsync()).rejects.toThrow(/does not exist/);
  });
});

describe('Figma stand-in: createImage', () => {
  it('accepts PNG, JPEG and GIF, reports their size, and dedupes by content hash', async () => {
    const f = createFigma();
    const jpeg = new Uint8Array(
      await sharp({ create: { width: 33, height: 21, channels: 3, background: '#08f' } })
        .jpeg()
        .toBuffer(),
    );
    const gif = new Uint8Array(
      await sharp({ create: { width: 7, height: 9, channels: 4, background: '#f00' } })
        .gif()
        .toBuffer(),
    );
    const png = await rgbPng(64, 48);
    const sizes = [];
    for (const bytes of [png, jpeg, gif]) sizes.push(await f.figma.createImage(bytes).getSizeAsync());
    expect(sizes).toEqual([
      { width: 64, height: 48 },
      { width: 33, height: 21 },
      { width: 7, height: 9 },
    ]);
    expect(f.figma.createImage(png).hash).toBe(f.figma.createImage(await rgbPng(64, 48)).hash);
    expect(await f.figma.createImage(png).getBytesAsync()).toEqual(png);
  });

  it('refuses WebP, garbage and images over 4096 px on an edge', async () => {
    const f = createFigma();
    const webp = new Uint8Array(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
        .webp()
        .toBuffer(),
    );
    expect(() => f.figma.createImage(webp)).toThrow(/unsupported/);
    expect(() => f.figma.createImage(new Uint8Array([1, 2, 3, 4]))).toThrow(/unsupported/);
    expect(() => f.figma.createImage(new Uint8Array(0))).toThrow(/unsupported/);
    const tooWide = await rgbPng(4097, 1);
    expect(() => f.figma.createImage(tooWide)).toThrow(/too large/);
    expect(f.figma.createImage(await rgbPng(4096, 1)).hash).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('Figma stand-in: fills, plugin data, relaunch data', () => {
  it('fills are read-only: mutation throws, assigning a new array works', () => {
    const f = createFigma();
    const frame = f.frame(100, 100);
    const fills = frame.fills;
    expect(Object.isFrozen(fills)).toBe(true);
    expect(() => (fills as unknown as unknown[]).push({ type: 'SOLID', color: { r: 0, g: 0, b: 0 } })).toThrow(
      TypeError,
    );
    expect(() => {
      (fills[0] as { color: { r: number } }).color.r = 0.5;
    }).toThrow(TypeError);
    frame.fills = [{ type: 'SOLID', color: { r: 0, g: 1, b: 0 } }];
    expect(frame.fills[0]).toEqual({ type: 'SOLID', color: { r: 0, g: 1, b: 0 } });
  });

  it('an IMAGE paint needs a hash from createImage and a valid scale mode; groups have no fills', async () => {
    const f = createFigma();
    const frame = f.frame(100, 100);
    expect(() => (frame.fills = [{ type: 'IMAGE', imageHash: 'nope', scaleMode: 'FILL' }])).toThrow(
      /Unknown image hash/,
    );
    const { hash } = f.figma.createImage(await rgbPng(2, 2));
    expect(() => (frame.fills = [{ type: 'IMAGE', imageHash: hash, scaleMode: 'STRETCH' as 'FILL' }])).toThrow(
      /scaleMode/,
    );
    frame.fills = [{ type: 'IMAGE', imageHash: hash, scaleMode: 'FILL' }];
    expect(frame.fills).toEqual([{ type: 'IMAGE', imageHash: hash, scaleMode: 'FILL' }]);
    expect(() => f.node('GROUP', 10, 10).fills).toThrow(/no fills/);
  });

  it('plugin data is per key, "" removes it, and an entry over 100 kB (id + key + value) throws', () => {
    const f = createFigma({ pluginId: 'p' });
    const node = f.frame(10, 10);
    expect(node.getPluginData('framefill')).toBe('');
    node.setPluginData('framefill', 'x'.repeat(100_000 - 10));
    expect(() => node.setPluginData('framefill', 'x'.repeat(100_000 - 9))).toThrow(/100 kB/);
    expect(() => node.setPluginData('framefill', '😀'.repeat(25_000))).toThrow(/100 kB/);
    node.setPluginData('framefill', '');
    expect(node.getPluginDataKeys()).toEqual([]);
  });

  it('relaunch data needs a manifest command and a description of at most 1000 characters', () => {
    const f = createFigma({ relaunchCommands: ['regenerate'] });
    const node = f.frame(10, 10);
    expect(() => node.setRelaunchData({ edit: 'x' })).toThrow(/relaunchButtons/);
    expect(() => node.setRelaunchData({ regenerate: 'x'.repeat(1001) })).toThrow(/1000/);
    node.setRelaunchData({ regenerate: 'Make it again' });
    expect(node.getRelaunchData()).toEqual({ regenerate: 'Make it again' });
  });
});

describe('Figma stand-in: document access, selection, viewport, notify, undo', () => {
  it('getNodeById throws under dynamic-page; getNodeByIdAsync resolves null for a deleted node', async () => {
    const f = createFigma();
    const frame = f.frame(10, 10);
    expect(() => f.figma.getNodeById(frame.id)).toThrow(/getNodeByIdAsync/);
    expect(await f.figma.getNodeByIdAsync(frame.id)).toBe(frame);
    frame.remove();
    expect(await f.figma.getNodeByIdAsync(frame.id)).toBeNull();
    expect(createFigma({ documentAccess: undefined }).figma.getNodeById('0:0')).toBeNull();
  });

  it('selection is a frozen list of this page nodes, and every change fires selectionchange afterwards', async () => {
    const f = createFigma({ pages: 2 });
    let events = 0;
    f.figma.on('selectionchange', () => events++);
    const a = f.frame(10, 10);
    f.select([a, a]);
    expect(events).toBe(0);
    await f.settle();
    expect(events).toBe(1);
    expect(f.figma.currentPage.selection).toEqual([a]);
    expect(Object.isFrozen(f.figma.currentPage.selection)).toBe(true);
    const elsewhere = f.frame(10, 10, { parent: f.pages[1] });
    expect(() => f.select([elsewhere])).toThrow(/this page/);
    a.remove();
    await f.settle();
    expect(f.figma.currentPage.selection).toEqual([]);
    expect(events).toBe(2);
  });

  it('viewport centres on nodes; notify shows 100 characters; commitUndo is counted', () => {
    const f = createFigma();
    const frame = f.frame(200, 100, { x: 1000, y: 500 });
    f.figma.viewport.scrollAndZoomIntoView([frame]);
    expect(f.figma.viewport.center).toEqual({ x: 1100, y: 550 });
    f.figma.notify('y'.repeat(150));
    expect(f.notifications[0]?.shown).toHaveLength(100);
    f.figma.commitUndo();
    expect(f.undoCommits).toBe(1);
  });

  it('undo follows commitUndo: each committed group of fill and plugin-data changes is one step', () => {
    const f = createFigma();
    const frame = f.frame(200, 100);
    const solid = (r: number): FakeNode['fills'] => [{ type: 'SOLID', color: { r, g: 0, b: 0 } }];
    const red = () => (frame.fills[0] as { color: { r: number } }).color.r;
    frame.fills = solid(0.1);
    frame.setPluginData('k', 'one');
    f.figma.commitUndo();
    frame.fills = solid(0.2);
    frame.setPluginData('k', 'two');
    f.figma.commitUndo();
    expect(f.undoSteps).toBe(2);
    f.figma.triggerUndo();
    expect(red()).toBe(0.1);
    expect(frame.getPluginData('k')).toBe('one');
    f.figma.triggerUndo();
    expect(frame.getPluginData('k')).toBe('');
    expect(f.undoSteps).toBe(0);
    // Uncommitted actions are what an undo reverts first.
    frame.fills = solid(0.3);
    f.figma.triggerUndo();
    expect(red()).not.toBe(0.3);
  });

  it('absolute positions add frame offsets but not group offsets', () => {
    const f = createFigma();
    const outer = f.frame(1000, 1000, { x: 100, y: 100 });
    const group = f.node('GROUP', 500, 500, { parent: outer, x: 50, y: 50 });
    const inner = f.frame(10, 10, { parent: group, x: 60, y: 70 });
    expect(inner.absoluteBoundingBox).toEqual({ x: 160, y: 170, width: 10, height: 10 });
  });
});

describe('Figma stand-in: clientStorage and the UI channel', () => {
  it('clientStorage copies values in and out, keeps Uint8Array, and enforces 5 MB', async () => {
    const f = createFigma();
    const value = { list: [1, 2], bytes: new Uint8Array([1, 2, 3]) };
    await f.figma.clientStorage.setAsync('k', value);
    value.list.push(3);
    const back = (await f.figma.clientStorage.getAsync('k')) as typeof value;
    expect(back).toEqual({ list: [1, 2], bytes: new Uint8Array([1, 2, 3]) });
    expect(back).not.toBe(await f.figma.clientStorage.getAsync('k'));
    expect(await f.figma.clientStorage.getAsync('missing')).toBeUndefined();
    await expect(f.figma.clientStorage.setAsync('f', { fn: () => 1 })).rejects.toThrow();
    await expect(f.figma.clientStorage.setAsync('big', new Uint8Array(5 * 1024 * 1024))).rejects.toThrow(/5 MB/);
    expect(await f.figma.clientStorage.keysAsync()).toEqual(['k']);
  });

  it('postMessage needs showUI, copies the message, and drops messages sent before the panel is ready', async () => {
    const f = createFigma();
    expect(() => f.figma.ui.postMessage(['X', {}])).toThrow(/showUI/);
    f.figma.showUI('<p>panel</p>', { themeColors: true, width: 360, height: 640 });
    f.figma.ui.postMessage(['EARLY', {}]);
    expect(f.ui.droppedBeforeReady).toBe(1);
    const received: unknown[] = [];
    f.figma.ui.onmessage = (message: unknown) => received.push(message);
    const bytes = new Uint8Array([9, 9]);
    f.sendFromPanel('PANEL_READY', { bytes });
    await f.settle();
    expect(received).toEqual([['PANEL_READY', { bytes: new Uint8Array([9, 9]) }]]);
    expect((received[0] as [string, { bytes: Uint8Array }])[1].bytes).not.toBe(bytes);
    const payload = { n: 1 };
    f.figma.ui.postMessage(['LATE', payload]);
    payload.n = 2;
    await f.settle();
    expect(f.uiMessages).toEqual([['LATE', { n: 1 }]]);
    expect(() => f.figma.ui.postMessage(['BAD', { fn: () => 1 }])).toThrow();
  });

  it('a throwing or rejecting onmessage handler is recorded as an uncaught error', async () => {
    const f = createFigma();
    f.figma.showUI('', {});
    f.figma.ui.onmessage = () => Promise.reject(new Error('boom'));
    f.sendFromPanel('X', {});
    await f.settle();
    expect(f.uncaughtErrors).toHaveLength(1);
  });
});

describe('Figma stand-in: as strict as the documentation', () => {
  it('copies only the documented types across postMessage and clientStorage', async () => {
    const f = createFigma();
    f.figma.showUI('', {});
    f.sendFromPanel('PANEL_READY', {});
    await f.settle();
    const when = new Date('2026-03-01T00:00:00Z');
    f.figma.ui.postMessage([
      'OK',
      { when, bytes: new Uint8Array([1]), none: null, nothing: undefined, list: [true, 's'] },
    ]);
    await f.settle();
    expect(f.uiMessages).toEqual([
      ['OK', { when, bytes: new Uint8Array([1]), none: null, nothing: undefined, list: [true, 's'] }],
    ]);
    for (const refused of [new Map(), new Set(), new ArrayBuffer(2), new Int16Array(2), /x/, () => 1, Symbol('s')]) {
      expect(() => f.figma.ui.postMessage(['BAD', { refused }])).toThrow(/Figma cannot copy/);
      await expect(f.figma.clientStorage.setAsync('bad', [refused])).rejects.toThrow(/Figma cannot copy/);
    }
    // clientStorage documents no Date, unlike postMessage.
    await expect(f.figma.clientStorage.setAsync('when', { when })).rejects.toThrow(/Date into clientStorage/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => f.figma.ui.postMessage(loop)).toThrow(/contains itself/);
  });

  it('two files on one machine share clientStorage, each with its own document', async () => {
    const a = createFigma();
    const b = createFigma({ sharedStorage: a.storage });
    await a.figma.clientStorage.setAsync('shared', { from: 'A' });
    expect(await b.figma.clientStorage.getAsync('shared')).toEqual({ from: 'A' });
    a.figma.root.setPluginData('k', 'only in A');
    expect(b.figma.root.getPluginData('k')).toBe('');
  });

  it('a page selection holds only that page’s nodes and never a node with its descendant', () => {
    const f = createFigma({ pages: 2 });
    const parent = f.frame(400, 400);
    const child = f.frame(100, 100, { parent });
    f.select([child, parent]);
    expect(f.page.selection).toEqual([parent]);
    const elsewhere = f.frame(100, 100, { parent: f.pages[1] });
    expect(() => {
      f.page.selection = [elsewhere];
    }).toThrow(/only contain live nodes on this page/);
  });

  it('instances refuse new children, inside them too, and their sub-layers have ids I<instance>;<layer>', () => {
    const f = createFigma();
    const instance = f.instance(300, 200, [{ type: 'FRAME', width: 300, height: 100, name: 'Slot' }]);
    const slot = instance.children[0]!;
    expect(slot.id).toMatch(new RegExp(`^I${instance.id};\\d+:\\d+$`));
    expect(() => instance.appendChild(f.frame(10, 10))).toThrow(
      /New parent is an instance or is inside of an instance/,
    );
    expect(() => slot.insertChild(0, f.frame(10, 10))).toThrow(/New parent is an instance or is inside of an instance/);
    expect(() => f.page.appendChild(slot)).toThrow(/inside of an instance/);
  });

  it('auto-layout places children by their order and ignores x/y set on them', () => {
    const f = createFigma();
    const column = f.frame(400, 1000, { layoutMode: 'VERTICAL', itemSpacing: 10 });
    const a = f.frame(100, 50, { parent: column, y: 500 });
    const b = f.frame(100, 80, { parent: column });
    expect([a.y, b.y]).toEqual([0, 60]);
    b.y = 999;
    b.x = 999;
    expect([b.x, b.y]).toEqual([0, 60]);
    const first = f.frame(100, 20);
    column.insertChild(0, first);
    expect([first.y, a.y, b.y]).toEqual([0, 30, 90]);
  });

  it('rotation turns about the top-left corner: the bounds and the export are the turned rectangle', async () => {
    const f = createFigma();
    const banner = f.frame(4000, 1000, { x: 100, y: 100, rotation: 90 });
    expect([banner.x, banner.y, banner.rotation]).toEqual([100, 100, 90]);
    expect(banner.absoluteBoundingBox).toEqual({ x: 100, y: -3900, width: 1000, height: 4000 });
    const bytes = await banner.exportAsync({
      format: 'PNG',
      useAbsoluteBounds: true,
      constraint: { type: 'WIDTH', value: 2048 },
    });
    expect(readImageHeader(bytes)).toEqual({ format: 'png', width: 2048, height: 8192 });
    banner.rotation = 270;
    expect(banner.rotation).toBe(-90);
  });

  it('documentchange arrives after the change, batched, and host watchers get the same batch', async () => {
    const f = createFigma();
    const seen: unknown[] = [];
    const watched: unknown[] = [];
    f.figma.on('documentchange', (event: unknown) => seen.push(event));
    f.watchChanges((changes) => watched.push(changes));
    const frame = f.frame(100, 100);
    frame.name = 'Renamed';
    expect(seen).toEqual([]);
    await f.settle();
    expect(seen).toHaveLength(1);
    const changes = (seen[0] as { documentChanges: Array<{ type: string; id: string }> }).documentChanges;
    expect(changes[0]).toMatchObject({ type: 'CREATE', id: frame.id, origin: 'LOCAL' });
    expect(changes.some((c) => c.type === 'PROPERTY_CHANGE')).toBe(true);
    frame.remove();
    await f.settle();
    expect(watched.at(-1)).toEqual([{ type: 'DELETE', id: frame.id }]);
  });
});

describe("Figma stand-in: a page's nodechange", () => {
  // https://developers.figma.com/docs/plugins/api/PageNode#on and https://developers.figma.com/docs/plugins/api/NodeChange
  it("delivers each page its own nodes' changes, later and batched, naming the node (a RemovedNode once deleted)", async () => {
    const f = createFigma({ pages: 2 });
    const [first, second] = f.pages as [FakeNode, FakeNode];
    const onFirst: Array<{ nodeChanges: Array<Record<string, unknown>> }> = [];
    const onSecond: unknown[] = [];
    first.on('nodechange', (event) => onFirst.push(event as (typeof onFirst)[number]));
    second.on('nodechange', (event) => onSecond.push(event));
    const frame = f.frame(100, 100, { parent: first });
    frame.setPluginData('k', 'v');
    expect(onFirst).toEqual([]);
    await f.settle();
    expect(onFirst).toHaveLength(1);
    expect(onSecond).toEqual([]);
    const changes = onFirst[0]!.nodeChanges;
    expect(changes[0]).toMatchObject({ type: 'CREATE', id: frame.id, origin: 'LOCAL' });
    const changed = changes.find((c) => (c.properties as string[] | undefined)?.includes('pluginData'));
    expect(changed).toMatchObject({ type: 'PROPERTY_CHANGE', id: frame.id, origin: 'LOCAL' });
    expect(changed!.node).toBe(frame);
    frame.remove();
    await f.settle();
    expect(onFirst[1]!.nodeChanges).toEqual([
      { type: 'DELETE', id: frame.id, origin: 'LOCAL', node: { removed: true, id: frame.id, type: 'FRAME' } },
    ]);
  });

  it('once fires once, off stops a callback, and only pages have the one event nodechange', async () => {
    const f = createFigma();
    const page = f.pages[0]!;
    let once = 0;
    let always = 0;
    const count = () => always++;
    page.once('nodechange', () => once++);
    page.on('nodechange', count);
    f.frame(10, 10).name = 'a';
    await f.settle();
    page.off('nodechange', count);
    f.frame(10, 10).name = 'b';
    await f.settle();
    expect([once, always]).toEqual([1, 1]);
    expect(() => f.frame(10, 10).on('nodechange', () => {})).toThrow(/only pages/);
    expect(() => page.on('selectionchange', () => {})).toThrow(/'nodechange'/);
  });
});

describe('Figma stand-in: fillGeometry of vectors and boolean groups', () => {
  // https://developers.figma.com/docs/plugins/api/VectorPath and …/api/properties/nodes-fillgeometry
  it('a vector fills its closed vectorPaths; open ones (windingRule NONE) have no fill; Q is stored as C', () => {
    const fake = createFigma();
    const vector = fake.node('VECTOR', 100, 100);
    vector.vectorPaths = [
      { windingRule: 'EVENODD', data: 'M 0 100 L 100 100 L 50 0 Z' },
      { windingRule: 'NONE', data: 'M 0 0 L 100 0' },
      { windingRule: 'NONZERO', data: 'M 0 0 Q 30 60 90 0 Z' },
    ];
    expect(vector.vectorPaths.map((p) => p.windingRule)).toEqual(['EVENODD', 'NONE', 'NONZERO']);
    expect(vector.vectorPaths[2]?.data).toBe('M 0 0 C 20 40 50 40 90 0 Z');
    expect(vector.fillGeometry).toEqual([
      { windingRule: 'EVENODD', data: 'M 0 100 L 100 100 L 50 0 Z' },
      { windingRule: 'NONZERO', data: 'M 0 0 C 20 40 50 40 90 0 Z' },
    ]);
    expect(fake.node('VECTOR', 10, 10).fillGeometry).toEqual([]);
  });

  it('vectorPaths takes only the documented subset: absolute M L Q C Z joined by single spaces', () => {
    const fake = createFigma();
    const vector = fake.node('VECTOR', 100, 100);
    const bad = ['m 0 0 l 10 10 z', 'M 0 0 H 10 Z', 'M 0,0 L 10,10 Z', 'M 0 0  L 10 10 Z', 'L 10 10 Z', 'M 0 0 L 10'];
    for (const data of bad) expect(() => (vector.vectorPaths = [{ windingRule: 'NONZERO', data }])).toThrow(/data/);
    expect(() => (vector.vectorPaths = [{ windingRule: 'INSIDE' as 'NONZERO', data: 'M 0 0 L 1 1 Z' }])).toThrow(
      /windingRule/,
    );
    expect(vector.vectorPaths).toEqual([]);
    expect(() => fake.node('RECTANGLE', 10, 10).vectorPaths).toThrow(/no vectorPaths/);
  });

  it("a boolean UNION's geometry is its visible children's outlines in its own space, rotation included", () => {
    const fake = createFigma();
    const frame = fake.frame(400, 400);
    const union = fake.node('BOOLEAN_OPERATION', 120, 60, { parent: frame, x: 100, y: 50 });
    expect(union.booleanOperation).toBe('UNION');
    // Children of a boolean operation are positioned in its parent's space.
    fake.node('RECTANGLE', 40, 20, { parent: union, x: 110, y: 60 });
    fake.node('RECTANGLE', 20, 10, { parent: union, x: 200, y: 100, rotation: -90 });
    const hidden = fake.node('ELLIPSE', 10, 10, { parent: union, x: 100, y: 50 });
    hidden.visible = false;
    expect(union.fillGeometry).toEqual([
      {
        windingRule: 'NONZERO',
        data: 'M 10 10 L 50 10 L 50 30 L 10 30 L 10 10 Z M 100 50 L 100 70 L 90 70 L 90 50 L 100 50 Z',
      },
    ]);
  });

  it('a boolean group the stand-in cannot compute throws instead of drawing a wrong area', () => {
    const fake = createFigma();
    const group = fake.node('BOOLEAN_OPERATION', 100, 100);
    fake.node('RECTANGLE', 50, 50, { parent: group });
    group.booleanOperation = 'INTERSECT';
    expect(() => group.fillGeometry).toThrow(/UNIONs only, not INTERSECT/);
    expect(() => (group.booleanOperation = 'XOR' as 'UNION')).toThrow(/Invalid booleanOperation/);
    group.booleanOperation = 'UNION';
    const reversed = fake.node('VECTOR', 10, 10, { parent: group });
    reversed.vectorPaths = [{ windingRule: 'NONZERO', data: 'M 0 0 L 0 10 L 10 10 Z' }];
    expect(() => group.fillGeometry).toThrow(/clockwise outlines only/);
    reversed.vectorPaths = [{ windingRule: 'EVENODD', data: 'M 0 0 L 10 0 L 10 10 Z' }];
    expect(() => group.fillGeometry).toThrow(/EVENODD/);
    expect(() => fake.node('POLYGON', 10, 10).fillGeometry).toThrow(/not POLYGON/);
  });
});
