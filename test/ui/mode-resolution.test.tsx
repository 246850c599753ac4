// @vitest-environment happy-dom
// Edit and Expand take their ratio from the image or the frame, not from the Aspect ratio control (hidden in those
// modes): the Resolution choices, their reasons and the suggestion follow the ratio the job will have.
import { cleanup, fireEvent, screen, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { frame, openPanel, settle } from './helpers';

afterEach(cleanup);

const tierRadio = (tier: string) =>
  within(screen.getByRole('radiogroup', { name: 'Resolution' })).getByRole('radio', {
    name: new RegExp(`^${tier}`),
  }) as HTMLInputElement;

describe('Resolution in Edit and Expand', () => {
  it('a 16:9 image with a shape over it offers 4K in Edit although Auto (1K only) is the Aspect ratio chosen', async () => {
    const hero = {
      ...frame('Hero', 1920, 1080),
      image: { hash: 'h1', width: 1280, height: 720 },
      regionShapeIds: ['1:7'],
    };
    await openPanel({ targets: [hero], settings: { ratio: 'auto', tier: '1K' } });
    const mode = screen.getByRole('radiogroup', { name: 'Mode' });
    expect((within(mode).getByRole('radio', { name: 'Edit' }) as HTMLInputElement).checked).toBe(true);
    expect(screen.queryByRole('radiogroup', { name: 'Aspect ratio' })).toBeNull();
    expect([tierRadio('2K').disabled, tierRadio('4K').disabled]).toEqual([false, false]);
    expect(screen.queryByText(/Auto renders at 1K only/)).toBeNull();

    // Back in Generate, Auto's rule applies again.
    fireEvent.click(within(mode).getByRole('radio', { name: 'Generate' }));
    await settle();
    expect(tierRadio('4K').disabled).toBe(true);
  });

  it('a 9:16 frame expanded from a 16:9 image offers 4K although 1:1 (no 4K) is the Aspect ratio chosen', async () => {
    const story = { ...frame('Story', 1080, 1920), image: { hash: 'h2', width: 1280, height: 720 } };
    await openPanel({ targets: [story], settings: { ratio: '1:1', tier: '1K' } });
    fireEvent.click(within(screen.getByRole('radiogroup', { name: 'Mode' })).getByRole('radio', { name: 'Expand' }));
    await settle();
    expect(tierRadio('4K').disabled).toBe(false);
  });
});
