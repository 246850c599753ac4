// The manifest against what Figma documents: https://developers.figma.com/docs/plugins/manifest/
// and network access: https://developers.figma.com/docs/plugins/making-network-requests/
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allowedOrigins, DEVELOPMENT_PLUGIN_ID, manifest, pluginIdFrom, proxyOriginFrom } from '../../build.mjs';

const root = path.resolve(import.meta.dirname, '../..');

// A domain entry is a scheme+host (optionally a path or a leading wildcard) or the keyword "none".
const DomainEntry = z.string().regex(/^(none|\*|(https?|wss?):\/\/[^\s/]+(\/\S*)?|\*\.[a-z0-9.-]+)$/i);

const FigmaManifest = z
  .object({
    name: z.string().min(1),
    id: z.string().min(1),
    api: z.string().regex(/^1\.0\.0$/),
    main: z.string().endsWith('.js'),
    ui: z.string().endsWith('.html'),
    editorType: z.array(z.enum(['figma', 'figjam', 'dev', 'slides', 'buzz'])).min(1),
    documentAccess: z.literal('dynamic-page'),
    networkAccess: z.object({
      allowedDomains: z.array(DomainEntry).min(1),
      devAllowedDomains: z.array(DomainEntry).optional(),
      reasoning: z.string().min(1).optional(),
    }),
    relaunchButtons: z
      .array(
        z.object({ command: z.string().min(1), name: z.string().min(1), multipleSelection: z.boolean().optional() }),
      )
      .optional(),
  })
  .strict();

describe('manifest.json', () => {
  const onDisk = JSON.parse(readFileSync(path.join(root, 'manifest.json'), 'utf8'));

  it('has the fields Figma documents, and only those', () => {
    expect(FigmaManifest.safeParse(onDisk).error?.issues ?? []).toEqual([]);
    expect(onDisk.editorType).toEqual(['figma']);
    expect(onDisk.main).toBe('build/main.js');
    expect(onDisk.ui).toBe('build/ui.html');
  });

  it('is what build.mjs writes for development', () => {
    expect(onDisk).toEqual(manifest());
  });

  it('allows no network in production and the local proxy in development, by name not IP', () => {
    expect(onDisk.networkAccess.allowedDomains).toEqual(['none']);
    // Figma refuses IP literals in networkAccess, so the proxy is reached as localhost.
    expect(onDisk.networkAccess.devAllowedDomains).toEqual(['http://localhost:8787']);
    expect(onDisk.networkAccess.reasoning).toMatch(/proxy/);
  });

  it('has a Regenerate relaunch button', () => {
    expect(onDisk.relaunchButtons).toEqual([{ command: 'regenerate', name: 'Regenerate' }]);
  });

  it('writes a deployed proxy origin into allowedDomains with its reasoning', () => {
    const deployed = manifest(proxyOriginFrom('https://framefill.example.com/'));
    expect(FigmaManifest.safeParse(deployed).success).toBe(true);
    expect(deployed.networkAccess.allowedDomains).toEqual(['https://framefill.example.com']);
    expect(deployed.networkAccess.reasoning).toContain('https://framefill.example.com');
  });

  it('refuses a deployed origin that is not https', () => {
    expect(() => proxyOriginFrom('http://framefill.example.com')).toThrow(/https origin/);
    expect(() => proxyOriginFrom('https://framefill.example.com/api')).toThrow(/https origin/);
    expect(proxyOriginFrom(undefined)).toBe('');
  });

  it('takes the plugin id Figma assigned from FRAMEFILL_PLUGIN_ID or package.json, with a development default', () => {
    expect(onDisk.id).toBe(DEVELOPMENT_PLUGIN_ID);
    expect(pluginIdFrom(undefined, {})).toBe(DEVELOPMENT_PLUGIN_ID);
    expect(pluginIdFrom(undefined, { framefill: { figmaPluginId: '1234567890123456789' } })).toBe(
      '1234567890123456789',
    );
    expect(pluginIdFrom(' 987654321 ', { framefill: { figmaPluginId: '1234567890123456789' } })).toBe('987654321');
    expect(() => pluginIdFrom('not an id!', {})).toThrow(/the id Figma gave the plugin/);
    const published = manifest('https://framefill.example.com', '1234567890123456789');
    expect(FigmaManifest.safeParse(published).success).toBe(true);
    expect(published.id).toBe('1234567890123456789');
  });

  it('lists the origins the panel may reach: the local proxy in development, plus a deployed origin', () => {
    expect(allowedOrigins()).toEqual(['http://localhost:8787']);
    expect(allowedOrigins('https://framefill.example.com')).toEqual([
      'https://framefill.example.com',
      'http://localhost:8787',
    ]);
  });
});
