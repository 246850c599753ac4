// @vitest-environment happy-dom
// Not enough credits for several variations: the panel's sentence names the first thing to try — fewer variations —
// as the proxy's 402 does; for one image it stays as it was.
import { describe, expect, it } from 'vitest';
import { priceOf } from '../../core/pricing';
import { generateBlocker } from '../../ui/panel';
import { planJobs } from '../../ui/plan';
import { frame } from './fixtures';

const account = (balance: number) => ({ name: 'local', balance_credits: balance, spent_credits: 0, jobs_in_flight: 0 });

function blocker(variations: number, balance: number) {
  const jobs = planJobs([frame('Hero', 1920, 1080)], 'from-frame', '1K', undefined, variations);
  const cost = jobs.reduce((sum, job) => sum + job.cost, 0);
  return generateBlocker({
    prompt: 'A lighthouse',
    jobs,
    variations,
    referenceCount: 0,
    cost,
    account: account(balance),
    exporting: false,
    sending: false,
    loaded: true,
  });
}

describe('not enough credits with variations', () => {
  it('four variations the balance cannot cover: the sentence offers fewer variations first', () => {
    const price = priceOf('1K');
    expect(blocker(4, 2 * price)?.message).toBe(
      `Not enough credits: this batch costs ${4 * price} and the balance is ${2 * price}. Ask your admin for more, or choose fewer variations, a lower resolution or quality.`,
    );
  });

  it('one image: the sentence is unchanged', () => {
    const price = priceOf('1K');
    expect(blocker(1, price - 1)?.message).toBe(
      `Not enough credits: this batch costs ${price} and the balance is ${price - 1}. Ask your admin for more, or pick a lower resolution or quality.`,
    );
  });
});
