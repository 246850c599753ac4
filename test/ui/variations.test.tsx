// @vitest-environment happy-dom
// Variations in the panel: the count (1–4, the same boundary the proxy enforces) prices Generate as count × price,
// and the submission carries it as `n`.
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_VARIATIONS } from '../../core/limits';
import { priceOf } from '../../core/pricing';
import { validateGeneration, variationsProblem } from '../../core/validate';
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
