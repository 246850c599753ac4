// Asks the main thread to export nodes as PNG and collects the answer, which arrives one message per
// image (DESIGN.md §9: one large message can exhaust the sandbox's memory). Full-size references that
// arrive as large PNGs are re-encoded to JPEG on the way in (ui/reencode.ts); thumbnails are not.
import { MIN_REFERENCE_MAX_EDGE } from '../core/limits';
import { type ExportedImage, type MainToPanelPayload, PanelToMain, type PanelToMainPayload } from '../core/messages';
import type { Send } from './bridge';
import { type ReferenceBytesMime, smallerReference } from './reencode';

/** An exported node's image as the panel sends it: PNG as Figma made it, or its JPEG re-encode. */
export interface ExportedReference extends Omit<ExportedImage, 'mime' | 'bytes'> {
  mime: ReferenceBytesMime;
  bytes: Uint8Array<ArrayBuffer>;
}

export interface ExportResult {
  /** In the order asked for; nodes that no longer exist are left out and listed in `missing`. */
  images: ExportedReference[];
  missing: string[];
  /** Set when the request could not be carried out: a sentence for the user. */
  error?: string;
}

export type Reencode = (
  png: Uint8Array<ArrayBuffer>,
) => Promise<{ mime: ReferenceBytesMime; bytes: Uint8Array<ArrayBuffer> }>;

interface Pending {
  images: Map<number, ExportedReference>;
  /** Re-encodes run one after another as images arrive, so at most one decoded bitmap is held at a time. */
  work: Promise<void>;
  reencode: boolean;
  onProgress: (done: number, total: number) => void;
  resolve: (result: ExportResult) => void;
}

export type EditExport = MainToPanelPayload<'EDIT_EXPORTED'>;

export class Exporter {
  private readonly pending = new Map<string, Pending>();
  private readonly edits = new Map<string, (answer: EditExport) => void>();
  private counter = 0;

  constructor(
    private readonly send: Send,
    private readonly reencode: Reencode = smallerReference,
  ) {}

  request(
    nodeIds: readonly string[],
    maxEdge: number,
    onProgress: (done: number, total: number) => void = () => undefined,
  ): Promise<ExportResult> {
    if (nodeIds.length === 0) return Promise.resolve({ images: [], missing: [] });
    const requestId = `export-${Date.now().toString(36)}-${++this.counter}`;
    // A request the message schema refuses would never be answered: fail it here with a sentence.
    const checked = PanelToMain.EXPORT_REFERENCES.safeParse({ requestId, nodeIds: [...nodeIds], maxEdge });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      return Promise.resolve({
        images: [],
        missing: [],
        error: `The references could not be exported (${issue?.path.join('.') ?? 'request'}: ${issue?.message ?? 'invalid'}). Check Settings and try again.`,
      });
    }
    return new Promise((resolve) => {
      this.pending.set(requestId, {
        images: new Map(),
        work: Promise.resolve(),
        // Thumbnails are small exports, shown and never uploaded: nothing to gain.
        reencode: maxEdge >= MIN_REFERENCE_MAX_EDGE,
        onProgress,
        resolve,
      });
      this.send('EXPORT_REFERENCES', { requestId, nodeIds: [...nodeIds], maxEdge });
    });
  }

  /** The image of a target to edit or expand, with its region's shapes (DESIGN: EXPORT_EDIT). */
  requestEdit(request: Omit<PanelToMainPayload<'EXPORT_EDIT'>, 'requestId'>): Promise<EditExport> {
    const requestId = `edit-${Date.now().toString(36)}-${++this.counter}`;
    return new Promise((resolve) => {
      this.edits.set(requestId, resolve);
      this.send('EXPORT_EDIT', { requestId, ...request });
    });
  }

  onEditExported(payload: EditExport): void {
    const resolve = this.edits.get(payload.requestId);
    this.edits.delete(payload.requestId);
    resolve?.(payload);
  }

  onExported(payload: MainToPanelPayload<'REFERENCE_EXPORTED'>): void {
    const pending = this.pending.get(payload.requestId);
    if (!pending) return;
    const { index, image } = payload;
    const exported: ExportedReference = image;
    pending.images.set(index, exported);
    pending.onProgress(pending.images.size, payload.total);
    if (!pending.reencode) return;
    pending.work = pending.work.then(async () => {
      try {
        const smaller = await this.reencode(exported.bytes);
        pending.images.set(index, { ...exported, mime: smaller.mime, bytes: smaller.bytes });
      } catch {
        // The PNG stays: a failed re-encode never fails the job.
      }
    });
  }

  onDone(payload: MainToPanelPayload<'REFERENCES_EXPORTED'>): void {
    const pending = this.pending.get(payload.requestId);
    if (!pending) return;
    this.pending.delete(payload.requestId);
    void pending.work.then(() => {
      const images = [...pending.images.entries()].sort(([a], [b]) => a - b).map(([, image]) => image);
      pending.resolve({ images, missing: payload.missing, ...(payload.error ? { error: payload.error } : {}) });
    });
  }
}
