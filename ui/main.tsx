// The panel (Preact, in the plugin iframe).
import '!@create-figma-plugin/ui/css/theme.css';
import { Container, render, Text, VerticalSpace } from '@create-figma-plugin/ui';

function Panel() {
  return (
    <Container space="medium">
      <VerticalSpace space="medium" />
      <Text>Framefill</Text>
    </Container>
  );
}

const root = document.getElementById('create-figma-plugin');
if (root) render(Panel)(root, {});
