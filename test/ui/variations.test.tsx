// @vitest-environment happy-dom
// Variations in the panel: the count (1–4, the same boundary the proxy enforces) prices Generate as count × price,
// and the submission carries it as `n`.
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_VARIATIONS } from '../../core/limits';
import { priceOf } from '../../core/pricing';
import { validateGeneration, variationsProblem } from '../../core/validate';
import { JobStrip } from '../../ui/components/JobStrip';
import type { JobCard, Variation } from '../../ui/jobs';
import { fakeProxy, frame, json, openPanel } from './helpers';

afterEach(cleanup);

const variationRadios = () =>
  within(screen.getByRole('radiogroup', { name: 'Variations' })).getAllByRole('radio') as HTMLInputElement[];

describe('the Variations count', () => {
  it(`offers 1 to ${MAX_VARIATIONS} and prices Generate as count × price for every target`, async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080), frame('Post', 1080, 1080)] });
    expect(variationRadios().map((r) => r.value)).toEqual(['1', '2', '3', '4']);
    fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: 'lemons' } });
    fireEvent.click(variationRadios()[2]!);
    await waitFor(() =>
      expect(screen.getByRole('button', { name: /^Generate/ }).textContent).toBe(
        `Generate · ${2 * 3 * priceOf('1K')} credits`,
      ),
    );
  });

  it('sends n with each target’s job', async () => {
    const forms: FormData[] = [];
    const fetch = fakeProxy({
      route: (url, init) => {
        if (url.endsWith('/v1/generations') && init?.method === 'POST') {
          forms.push(init.body as FormData);
          return json({ error: { code: 'insufficient_credits', message: 'No.' } }, 402);
        }
        return undefined;
      },
    });
    await openPanel({ fetch, targets: [frame('Hero', 1920, 1080)] });
    fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: 'lemons' } });
    fireEvent.click(variationRadios()[3]!);
    fireEvent.click(screen.getByRole('button', { name: /^Generate/ }));
    await waitFor(() => expect(forms).toHaveLength(1));
    expect(forms[0]?.get('n')).toBe('4');
  });
});

describe('the variations boundary, shared by the panel and the proxy', () => {
  it('accepts 1 and 4, refuses 0, 5, 2.5 and text with invalid_request on n', () => {
    for (const ok of [1, 4, '1', '4', undefined]) expect(variationsProblem(ok)).toBeUndefined();
    for (const bad of [0, 5, 2.5, '0', '5', 'two', '']) {
      expect(variationsProblem(bad)).toMatchObject({ code: 'invalid_request', field: 'n' });
    }
    expect(
      validateGeneration({ prompt: 'x', aspectRatio: '1:1', resolution: '1K', referenceCount: 0, variations: 5 }),
    ).toMatchObject({ field: 'n' });
  });
});

describe('the variations strip on a job card', () => {
  const variation = (index: number): Variation => ({
    index,
    bytes: new Uint8Array([index]),
    mime: 'image/png',
    width: 16,
    height: 9,
    fileName: `lemons-16x9${index ? `-v${index + 1}` : ''}.png`,
  });
  const card = (over: Partial<JobCard>): JobCard => ({
    key: 'job-1',
    jobId: '3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b',
    proxyUrl: 'http://localhost:8787',
    targetId: '1:1',
    targetName: 'Hero',
    ratio: '16:9',
    tier: '1K',
    costCredits: 3 * priceOf('1K'),
    phase: 'placed',
    partials: 0,
    offline: false,
    resumed: false,
    result: variation(0),
    variationCount: 3,
    variations: [variation(0), variation(1), variation(2)],
    shown: 0,
    placedNodeId: '1:1',
    ...over,
  });
  const strip = (cards: JobCard[], onSwap: (key: string, index: number) => void = () => undefined) => (
    <JobStrip
      cards={cards}
      refundsStarted={false}
      onCancel={() => undefined}
      onCancelAll={() => undefined}
      onRetry={() => undefined}
      onPlaceInNewFrame={() => undefined}
      onDismiss={() => undefined}
      onDismissFinished={() => undefined}
      onSwap={onSwap}
    />
  );

  it('a job that got fewer variations than asked shows what was charged and what came back', () => {
    const price = priceOf('1K');
    render(
      strip([
        card({
          costCredits: 2 * price,
          variationCount: 2,
          variations: [variation(0), variation(1)],
          shortfall: { asked: 3, produced: 2, returnedCredits: price, perImage: price },
        }),
      ]),
    );
    expect(screen.getByText(/variations came back/).textContent).toBe(
      `2 of 3 variations came back; 1 × ${price} credits returned, ${2 * price} credits charged.`,
    );
  });

  it('a variation that could not be downloaded says where to get it instead of "downloading…"', () => {
    render(strip([card({ variations: [variation(0), variation(2)], missingVariations: [1] })]));
    expect(screen.getByRole('img', { name: /^Variation 2 of 3/ }).getAttribute('aria-label')).toBe(
      'Variation 2 of 3: not downloaded — place or download it from History',
    );
    expect(screen.queryByRole('img', { name: /downloading/ })).toBeNull();
  });

  it('says which variation the layer shows, and a swap keeps keyboard focus on the thumbnail pressed', () => {
    const swaps: number[] = [];
    const view = render(strip([card({})], (_key, index) => swaps.push(index)));
    const status = () => screen.getAllByRole('status').find((s) => /Placed|Swapped/.test(s.textContent ?? ''));
    expect(status()?.textContent).toBe('Placed in Hero: variation 1 of 3.');
    const second = screen.getByRole('button', { name: 'Variation 2 of 3' }) as HTMLButtonElement;
    second.focus();
    fireEvent.click(second);
    expect(swaps).toEqual([1]);
    // While the swap runs the others wait, but the pressed one stays focusable (aria-disabled, not disabled).
    view.rerender(strip([card({ swapping: 1 })], (_key, index) => swaps.push(index)));
    const third = screen.getByRole('button', { name: 'Variation 3 of 3' }) as HTMLButtonElement;
    expect(second.disabled).toBe(false);
    expect(document.activeElement).toBe(second);
    expect(third.getAttribute('aria-disabled')).toBe('true');
    fireEvent.click(third);
    expect(swaps).toEqual([1]);
    view.rerender(strip([card({ shown: 1 })]));
    expect(status()?.textContent).toBe('Swapped variation 2 of 3 into Hero; undo brings the previous one back.');
  });
});

describe('the Variations control says what more than one means', () => {
  it('describes the group once more than one is chosen: each at the full price, the first placed', async () => {
    await openPanel({ targets: [frame('Hero', 1920, 1080)] });
    const group = screen.getByRole('radiogroup', { name: 'Variations' });
    expect(group.getAttribute('aria-describedby')).toBeNull();
    fireEvent.click(variationRadios()[2]!);
    await waitFor(() => expect(group.getAttribute('aria-describedby')).toBe('ff-variations-description'));
    expect(document.getElementById('ff-variations-description')?.textContent).toBe(
      '3 images per frame, each at the full price: the first is placed, the others wait under its job to be swapped in.',
    );
  });
});
