// Plugin main thread (Figma's sandbox): no DOM, no network.
figma.showUI(__html__, { themeColors: true, width: 360, height: 640, title: 'Framefill' });
