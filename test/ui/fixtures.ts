// Fixtures for panel tests that need no DOM: frames as the main thread describes them, tray items.
import type { Target, TrayItem } from '../../core/messages';
import { pickRatio, suggestTier } from '../../core/pick';

/** A frame the way the main thread describes it. */
export function frame(name: string, width: number, height: number, id = `1:${name}`): Target {
  const { ratio, cropFraction } = pickRatio(width, height);
  return { id, name, width, height, ratio, cropFraction, suggestedTier: suggestTier(width, height, ratio) };
}

export function trayOf(count: number): TrayItem[] {
  return Array.from({ length: count }, (_, i) => ({ nodeId: `9:${i}`, name: `Ref ${i + 1}` }));
}
