// §5 The draft provider's render time per tier (in-process, no delay), and the delivery of a finished 4K image
// from the proxy to bytes in the client.
import { type AspectRatio, sizeFor, TIERS } from '../core/formats';
import { createDraftProvider } from '../proxy/providers/draft';
import type { ProviderReference } from '../proxy/providers/types';
import { completion, fetchImage, form, submit } from './client';
import type { Row } from './stats';
import { summarize } from './stats';

export async function measureDraft(references: readonly ProviderReference[], runs: number): Promise<Row[]> {
  const provider = createDraftProvider({ delayMs: 0 });
  const rows: Row[] = [];
  const ratio: AspectRatio = '16:9';
  for (const tier of TIERS) {
    const size = sizeFor(ratio, tier)!;
    for (const refs of [[], references]) {
      const times: number[] = [];
      for (let i = 0; i <= runs; i++) {
        const t = performance.now();
        await provider.generate(
          {
            jobId: 'bench',
            accountId: 'bench',
            prompt: 'A lighthouse at dusk',
            aspectRatio: ratio,
            resolution: tier,
            size,
            quality: 'medium',
            outputFormat: 'png',
            references: refs,
          },
          new AbortController().signal,
          () => undefined,
        );
        // The first render warms sharp's caches and the JIT; it is not counted.
        if (i > 0) times.push(performance.now() - t);
      }
      rows.push({
        section: '5',
        metric: `draft render ${tier} ${ratio}, ${refs.length} references`,
        unit: 'ms',
        summary: summarize(times),
      });
    }
  }
  return rows;
}

export async function measureDelivery(proxyUrl: string, runs: number): Promise<{ rows: Row[]; bytes: number }> {
  const fields = { prompt: 'Delivery', aspect_ratio: '16:9', resolution: '4K', quality: 'high', output_format: 'png' };
  const id = await submit(proxyUrl, form(fields, []));
  await completion(proxyUrl, id);
  let bytes = 0;
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t = performance.now();
    bytes = (await fetchImage(proxyUrl, id)).length;
    if (i > 0) times.push(performance.now() - t);
  }
  return {
    rows: [
      {
        section: '5',
        metric: `4K result GET → bytes in client (${(bytes / 1024 / 1024).toFixed(1)} MB photo-like PNG)`,
        unit: 'ms',
        summary: summarize(times),
      },
    ],
    bytes,
  };
}
