// The model table (core/models.ts): the gpt-image-2 family and its dated snapshots run; retired and foreign models
// are refused with a reason that names what to use instead.
import { describe, expect, it } from 'vitest';
import { modelFamilyOf, RETIRED_MODELS, unsupportedModelReason } from '../../core/models';

describe('which OPENAI_IMAGE_MODEL the proxy runs', () => {
  it.each(['gpt-image-2', 'gpt-image-2-2026-04-21', 'gpt-image-2-2027-01-15'])(
    '%s is in the gpt-image-2 family',
    (model) => {
      expect(modelFamilyOf(model)?.alias).toBe('gpt-image-2');
      expect(unsupportedModelReason(model)).toBeUndefined();
    },
  );

  it.each(Object.keys(RETIRED_MODELS))('the retired %s is refused with its shutdown date', (model) => {
    expect(unsupportedModelReason(model)).toContain(`${model} was shut down by OpenAI on ${RETIRED_MODELS[model]}`);
  });

  it('a dated snapshot of a retired model is refused as retired', () => {
    expect(unsupportedModelReason('gpt-image-1.5-2025-12-16')).toContain('was shut down by OpenAI on 2026-12-01');
  });

  it.each(['dall-e-3', 'gpt-image-20', 'gpt-image-2-preview', 'gpt-image-2-2026-4-21', 'GPT-IMAGE-2'])(
    '%s is refused, naming the family to use and the retired models',
    (model) => {
      const reason = unsupportedModelReason(model) ?? '';
      expect(reason).toContain(`OPENAI_IMAGE_MODEL=${model}`);
      expect(reason).toContain('use gpt-image-2');
      expect(reason).toContain('gpt-image-1 (shut down 2026-10-23)');
    },
  );
});
