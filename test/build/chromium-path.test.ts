// The browser tests find a browser wherever it usually is, or fail saying how to get one — never a silent skip.
import { describe, expect, it } from 'vitest';
import { chromiumPath } from '../e2e/helpers/chromium';

describe('finding a browser for the browser tests', () => {
  it('uses FRAMEFILL_CHROMIUM when it exists', () => {
    expect(chromiumPath({ FRAMEFILL_CHROMIUM: '/opt/my/chrome' }, (p) => p === '/opt/my/chrome')).toBe(
      '/opt/my/chrome',
    );
  });

  it('refuses a FRAMEFILL_CHROMIUM that does not exist, naming it', () => {
    expect(() => chromiumPath({ FRAMEFILL_CHROMIUM: '/nope' }, () => false)).toThrow(/FRAMEFILL_CHROMIUM=\/nope/);
  });

  it('finds Chrome on macOS and Chromium on Debian', () => {
    const mac = '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome';
    expect(chromiumPath({}, (p) => p === mac)).toBe(mac);
    expect(chromiumPath({}, (p) => p === '/usr/bin/chromium')).toBe('/usr/bin/chromium');
  });

  it('with none installed, fails with one line that says how to install one', () => {
    expect(() => chromiumPath({}, () => false)).toThrow(/apt-get install chromium.*FRAMEFILL_CHROMIUM/);
  });
});
