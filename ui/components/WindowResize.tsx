import { useWindowResize } from '@create-figma-plugin/ui';
import { memo } from 'preact/compat';

/**
 * The window's height when the designer drags its bottom edge: tall enough for the prompt, the footer and a few
 * jobs (Figma's own minimum, 70 px, would hide all but the footer). The width stays Figma's panel width; a
 * side handle would also sit on the middle's scrollbar.
 */
export const WINDOW_LIMITS = { minHeight: 400, maxHeight: 1200 } as const;

/**
 * The plugin window's bottom edge: drag to resize, double-click to toggle between the opening height and the
 * tallest. create-figma-plugin's hook takes the opening size from `window.innerHeight` each time it renders, so it
 * lives in a component that renders once: were it re-rendered after a drag, a double-click would return to the
 * dragged height instead.
 */
export const WindowResize = memo(function WindowResize({
  onResize,
}: {
  onResize: (size: { width: number; height: number }) => void;
}) {
  useWindowResize(onResize, { ...WINDOW_LIMITS, resizeDirection: 'vertical', resizeBehaviorOnDoubleClick: 'maximize' });
  return null;
});
