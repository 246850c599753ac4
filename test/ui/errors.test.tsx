// @vitest-environment happy-dom
// Every §6 error code, and the panel's own "proxy unreachable", reads as a sentence with the next step.
import { cleanup, render, screen } from '@testing-library/preact';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_ADVICE, ERROR_CODES } from '../../core/api';
import { ErrorText } from '../../ui/components/ErrorText';

afterEach(cleanup);

const PROXY = 'http://localhost:8787';

function shown(code: Parameters<typeof ErrorText>[0]['error']['code'], message = '', retry_after?: number) {
  render(<ErrorText error={{ code, message, retry_after }} proxyUrl={PROXY} />);
  return screen.getByRole('alert').textContent ?? '';
}

describe('error sentences', () => {
  // Some codes word their next step around the server's message instead of the stock advice.
  const nextStep = (code: (typeof ERROR_CODES)[number]) =>
    code === 'content_policy'
      ? 'Rephrase the prompt or change the references.'
      : code === 'rate_limited'
        ? 'Wait a moment and try again.'
        : code === 'unauthorized'
          ? 'into Settings ▸ Token.'
          : ERROR_ADVICE[code];

  for (const code of ERROR_CODES) {
    it(`${code} is shown as an alert ending with what to do next`, () => {
      const text = shown(code, 'The server said something specific.');
      expect(text).toContain(nextStep(code));
      expect(text).toMatch(/[.)]$/);
    });
  }

  it("content_policy shows OpenAI's own message and how to get past it", () => {
    const text = shown('content_policy', 'Your request was rejected by the safety system.');
    expect(text).toContain('Your request was rejected by the safety system.');
    expect(text).toContain('Rephrase the prompt or change the references.');
  });

  it('rate_limited says when to retry', () => {
    expect(shown('rate_limited', 'Slow down.', 30)).toContain('Try again in 30 seconds.');
    cleanup();
    expect(shown('rate_limited', 'Slow down.', 300)).toContain('Try again in 5 minutes.');
    cleanup();
    expect(shown('rate_limited', 'Slow down.')).toContain('Wait a moment and try again.');
  });

  it('unauthorized from a local proxy asks for the token npm start printed', () => {
    for (const url of ['http://localhost:8787', 'http://127.0.0.1:8787', 'http://[::1]:8787']) {
      render(<ErrorText error={{ code: 'unauthorized', message: 'Missing token.' }} proxyUrl={url} />);
      expect(screen.getByRole('alert').textContent).toBe(
        `The local proxy at ${url} needs its token: paste the token that \`npm start\` printed into Settings ▸ Token.`,
      );
      cleanup();
    }
  });

  it("unauthorized from a team's proxy points to the admin's token", () => {
    render(<ErrorText error={{ code: 'unauthorized', message: 'Unknown token.' }} proxyUrl="https://ff.example.com" />);
    expect(screen.getByRole('alert').textContent).toBe(
      'The proxy at https://ff.example.com refused the token: paste the one your admin gave you into Settings ▸ Token.',
    );
  });

  it('interrupted is one sentence: the proxy restarted and the credits came back', () => {
    const text = shown('interrupted', 'The proxy stopped while this job ran; its credits were released.');
    expect(text).toBe(ERROR_ADVICE.interrupted);
  });

  it('a specific server message is kept before the advice', () => {
    const text = shown('insufficient_credits', 'This batch costs 24 credits; the balance is 10');
    expect(text).toBe(`This batch costs 24 credits; the balance is 10. ${ERROR_ADVICE.insufficient_credits}`);
  });

  it('proxy unreachable is one sentence with the URL used, how to start the proxy, and Chrome’s local network access', () => {
    const text = shown('proxy_unreachable', 'Cannot reach the proxy.');
    expect(text).toContain(`at ${PROXY}:`);
    expect(text).toContain('npm start');
    expect(text).toContain('local network access');
    expect(text).toContain('figma.com');
    expect(text.match(/[.!?](\s|$)/g)).toHaveLength(1);
  });
});
