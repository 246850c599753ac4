// @vitest-environment happy-dom
// Removing job cards from the keyboard: the Dismiss or Clear finished just pressed goes away with its card, so the
// focus moves to the card that takes its place (or the prompt once the strip is empty), never to the page.
import { cleanup, fireEvent, render, screen } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { JobStrip } from '../../ui/components/JobStrip';
import type { JobCard } from '../../ui/jobs';

afterEach(cleanup);

const card = (key: string, targetName: string, over: Partial<JobCard> = {}): JobCard => ({
  key,
  jobId: `3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7${key.at(-1)}`,
  proxyUrl: 'http://localhost:8787',
  targetId: `1:${key.at(-1)}`,
  targetName,
  ratio: '16:9',
  tier: '1K',
  costCredits: 6,
  phase: 'failed',
  error: { code: 'upstream_error', message: 'The image service failed.' },
  partials: 0,
  offline: false,
  resumed: false,
  ...over,
});

function stripOf(initial: JobCard[]) {
  let cards = initial;
  const emptied: string[] = [];
  const view = () => (
    <JobStrip
      cards={cards}
      refundsStarted={false}
      onCancel={() => undefined}
      onCancelAll={() => undefined}
      onRetry={() => undefined}
      onPlaceInNewFrame={() => undefined}
      onDismiss={(key) => {
        cards = cards.filter((c) => c.key !== key);
        rendered.rerender(view());
      }}
      onDismissFinished={() => {
        cards = cards.filter((c) => c.phase === 'running');
        rendered.rerender(view());
      }}
      onSwap={() => undefined}
      onEmptied={() => emptied.push('emptied')}
    />
  );
  const rendered = render(view());
  return { emptied };
}

const dismissOf = (name: string) => screen.getByRole('button', { name: `Dismiss ${name} · 16:9 1K` });

describe('removing job cards from the keyboard', () => {
  it('Dismiss moves the focus to the next card’s Dismiss, then the previous one, then says the strip is empty', () => {
    const { emptied } = stripOf([card('job-1', 'Hero'), card('job-2', 'Card'), card('job-3', 'Banner')]);
    dismissOf('Hero').focus();
    fireEvent.click(dismissOf('Hero'));
    expect(document.activeElement).toBe(dismissOf('Card'));
    dismissOf('Banner').focus();
    fireEvent.click(dismissOf('Banner'));
    expect(document.activeElement).toBe(dismissOf('Card'));
    expect(emptied).toEqual([]);
    fireEvent.click(dismissOf('Card'));
    expect(emptied).toEqual(['emptied']);
  });

  it('Clear finished moves the focus to the running job that stays', () => {
    stripOf([
      card('job-1', 'Hero', { phase: 'running', error: undefined }),
      card('job-2', 'Card'),
      card('job-3', 'Banner'),
    ]);
    const clear = screen.getByRole('button', { name: 'Clear finished' });
    clear.focus();
    fireEvent.click(clear);
    expect(screen.queryByRole('button', { name: 'Clear finished' })).toBeNull();
    const running = screen.getByRole('listitem');
    expect(running.contains(document.activeElement)).toBe(true);
  });
});

describe('a button that goes when its job changes', () => {
  it('Cancel pressed from the keyboard: once the job is canceled, the focus is on its Dismiss, not the page', () => {
    const running = card('job-1', 'Hero', { phase: 'running', error: undefined });
    const view = (cards: JobCard[]) => (
      <JobStrip
        cards={cards}
        refundsStarted={false}
        onCancel={() => undefined}
        onCancelAll={() => undefined}
        onRetry={() => undefined}
        onPlaceInNewFrame={() => undefined}
        onDismiss={() => undefined}
        onDismissFinished={() => undefined}
        onSwap={() => undefined}
      />
    );
    const { rerender } = render(view([running]));
    const cancel = screen.getByRole('button', { name: /^Cancel — / });
    cancel.focus();
    fireEvent.click(cancel);
    rerender(view([{ ...running, phase: 'canceled', creditsReturned: false }]));
    expect(screen.queryByRole('button', { name: /^Cancel — / })).toBeNull();
    expect(document.activeElement).toBe(dismissOf('Hero'));
  });

  it('Retry pressed from the keyboard: while the job is sent again, the focus stays on its card', () => {
    const unsent = card('job-1', 'Hero', {
      phase: 'unsent',
      jobId: undefined,
      error: { code: 'proxy_unreachable', message: 'Failed to fetch' },
    });
    const view = (cards: JobCard[]) => (
      <JobStrip
        cards={cards}
        refundsStarted={false}
        onCancel={() => undefined}
        onCancelAll={() => undefined}
        onRetry={() => undefined}
        onPlaceInNewFrame={() => undefined}
        onDismiss={() => undefined}
        onDismissFinished={() => undefined}
        onSwap={() => undefined}
      />
    );
    const { rerender } = render(view([unsent]));
    const retry = screen.getByRole('button', { name: 'Retry' });
    retry.focus();
    fireEvent.click(retry);
    rerender(view([{ ...unsent, phase: 'submitting', error: undefined }]));
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole('listitem'));
  });
});

describe('a refused swap in the strip', () => {
  it('offers “Place variation n in a new frame”', () => {
    const placed: string[] = [];
    const variation = (index: number) => ({
      index,
      bytes: new Uint8Array([index]),
      mime: 'image/png',
      width: 16,
      height: 9,
      fileName: `hero-16x9-v${index + 1}.png`,
    });
    render(
      <JobStrip
        cards={[
          card('job-1', 'Hero', {
            phase: 'placed',
            error: { code: 'place_failed', message: 'The layer that showed this job is gone.' },
            variationCount: 2,
            variations: [variation(0), variation(1)],
            shown: 0,
            placedNodeId: '1:1',
            swapFailed: 1,
          }),
        ]}
        refundsStarted={false}
        onCancel={() => undefined}
        onCancelAll={() => undefined}
        onRetry={() => undefined}
        onPlaceInNewFrame={(key) => placed.push(key)}
        onDismiss={() => undefined}
        onDismissFinished={() => undefined}
        onSwap={() => undefined}
      />,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Place variation 2 in a new frame' }));
    expect(placed).toEqual(['job-1']);
  });
});
