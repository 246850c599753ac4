// Chooses the provider once, at start-up, from the configuration (DESIGN.md §8).
import type { Config } from '../config';
import { createDraftProvider } from './draft';
import { createOpenAIProvider } from './openai';
import { createTaskProvider } from './task';
import type { Provider } from './types';

export function createProvider(config: Config): Provider {
  if (config.provider === 'openai') {
    return createOpenAIProvider({
      apiKey: config.openai.apiKey ?? '',
      baseURL: config.openai.baseURL,
      model: config.openai.model,
      timeoutMs: config.upstreamTimeoutMs,
      partialImages: config.partialImages,
    });
  }
  if (config.provider === 'task' && config.task) {
    return createTaskProvider({ ...config.task, timeoutMs: config.upstreamTimeoutMs });
  }
  return createDraftProvider({ delayMs: config.draftDelayMs });
}
