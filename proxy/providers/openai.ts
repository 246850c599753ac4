// OpenAI provider: built in its own issue; until then it refuses every job with an honest error.
import { FramefillError } from '../errors';
import type { Provider } from './types';

export interface OpenAIProviderOptions {
  apiKey: string;
  baseURL: string | undefined;
  model: string;
  timeoutMs: number;
}

export function createOpenAIProvider(options: OpenAIProviderOptions): Provider {
  return {
    name: 'openai',
    model: options.model,
    async generate() {
      throw new FramefillError('upstream_error', 'The OpenAI provider is not available in this build.');
    },
  };
}
