// Asks the main thread to export nodes as PNG and collects the answer, which arrives one message per
// image (DESIGN.md §9: one large message can exhaust the sandbox's memory).
import type { ExportedImage, MainToPanelPayload } from '../core/messages';
import type { Send } from './bridge';

export interface ExportResult {
  /** In the order asked for; nodes that no longer exist are left out and listed in `missing`. */
  images: ExportedImage[];
  missing: string[];
}

interface Pending {
  images: Map<number, ExportedImage>;
  onProgress: (done: number, total: number) => void;
  resolve: (result: ExportResult) => void;
}

export class Exporter {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  constructor(private readonly send: Send) {}

  request(
    nodeIds: readonly string[],
    maxEdge: number,
    onProgress: (done: number, total: number) => void = () => undefined,
  ): Promise<ExportResult> {
    if (nodeIds.length === 0) return Promise.resolve({ images: [], missing: [] });
    const requestId = `export-${Date.now().toString(36)}-${++this.counter}`;
    return new Promise((resolve) => {
      this.pending.set(requestId, { images: new Map(), onProgress, resolve });
      this.send('EXPORT_REFERENCES', { requestId, nodeIds: [...nodeIds], maxEdge });
    });
  }

  onExported(payload: MainToPanelPayload<'REFERENCE_EXPORTED'>): void {
    const pending = this.pending.get(payload.requestId);
    if (!pending) return;
    pending.images.set(payload.index, payload.image);
    pending.onProgress(pending.images.size, payload.total);
  }

  onDone(payload: MainToPanelPayload<'REFERENCES_EXPORTED'>): void {
    const pending = this.pending.get(payload.requestId);
    if (!pending) return;
    this.pending.delete(payload.requestId);
    const images = [...pending.images.entries()].sort(([a], [b]) => a - b).map(([, image]) => image);
    pending.resolve({ images, missing: payload.missing });
  }
}
