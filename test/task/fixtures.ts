// Shared by the task-provider tests: the reseller stand-in plus an in-process proxy on the task provider, both closed
// after each test; polling is fast (5 ms, at most 20 ms) so nothing waits on real intervals.
import { afterEach } from 'vitest';
import { type FakeTaskApi, type FakeTaskApiOptions, startFakeTaskApi } from '../fakes/task-upstream';
import { api, startTestProxy, type TestProxy } from '../helpers/proxy';

export const TASK_KEY = 'task-key';

export function useProxyOnFakeTaskApi() {
  const started: Array<{ fake: FakeTaskApi; proxy?: TestProxy }> = [];
  afterEach(async () => {
    for (const { fake, proxy } of started.splice(0)) {
      await proxy?.close(0).catch(() => undefined); // the restart test closes its first proxy itself
      await fake.close();
    }
  });
  async function startProxyOn(fake: FakeTaskApi, env: Record<string, string> = {}): Promise<TestProxy> {
    const proxy = await startTestProxy({
      FRAMEFILL_PROVIDER: 'task',
      TASK_API_BASE_URL: fake.url,
      TASK_API_KEY: TASK_KEY,
      TASK_API_POLL_MS: '5',
      TASK_API_POLL_MAX_MS: '20',
      ...env,
    });
    started.push({ fake, proxy });
    return proxy;
  }
  async function setUp(
    env: Record<string, string> = {},
    options: FakeTaskApiOptions = {},
  ): Promise<{ fake: FakeTaskApi; proxy: TestProxy }> {
    const fake = await startFakeTaskApi({ apiKey: TASK_KEY, ...options });
    started.push({ fake });
    return { fake, proxy: await startProxyOn(fake, env) };
  }
  return { setUp, startProxyOn };
}

export interface JobView {
  id: string;
  status: string;
  width?: number;
  height?: number;
  notes?: string[];
  error?: { code: string; message: string; retry_after?: number };
  images?: Array<{ index: number }>;
}

export async function job(url: string, id: string): Promise<JobView> {
  return (await (await api(`${url}/v1/generations/${id}`)).json()) as JobView;
}

export const fields = (ratio: string, tier: string, prompt = 'a lighthouse at dusk') => ({
  prompt,
  aspect_ratio: ratio,
  resolution: tier,
});

/** Resolves once `check` holds, checking every 5 ms (no deadline of its own: the test's timeout is the bound). */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
}
