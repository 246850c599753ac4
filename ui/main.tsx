// The panel's entry: Figma's styles, then the Panel on the page Figma loads as the plugin's UI.
import '!@create-figma-plugin/ui/css/theme.css';
import './panel.css';
import { render } from '@create-figma-plugin/ui';
import { createBridge } from './bridge';
import { Panel } from './panel';

// In Figma (themeColors: true) the <html> element carries figma-light or figma-dark and Figma injects the
// colour variables: https://developers.figma.com/docs/plugins/css-variables/ . Opened anywhere else, the
// body takes the light theme so create-figma-plugin's own variables apply.
const html = document.documentElement;
if (!html.classList.contains('figma-light') && !html.classList.contains('figma-dark')) {
  document.body.classList.add('figma-light');
}

const root = document.getElementById('create-figma-plugin');
if (root) {
  render(Panel)(root, {
    bridge: createBridge(),
    defaultProxyUrl: __FRAMEFILL_DEFAULT_PROXY_URL__,
    allowedOrigins: __FRAMEFILL_ALLOWED_ORIGINS__,
  });
}
