// The playground's starting document: frames of the sizes designers fill (hero, story, post, editorials,
// a wide banner) and mood boards of shapes and colours to pin as references.
import type { FakeFigma } from './figma';

type Rgb = { r: number; g: number; b: number };

const hex = (value: string): Rgb => ({
  r: Number.parseInt(value.slice(1, 3), 16) / 255,
  g: Number.parseInt(value.slice(3, 5), 16) / 255,
  b: Number.parseInt(value.slice(5, 7), 16) / 255,
});

interface ShapeSpec {
  type: 'RECTANGLE' | 'ELLIPSE';
  x: number;
  y: number;
  width: number;
  height: number;
  fill: string;
}

interface FrameSpec {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  fill: string;
  shapes?: ShapeSpec[];
}

const MOOD = 800;
const moodY = 2680;

export const SCENE: readonly FrameSpec[] = [
  { name: 'Hero', x: 0, y: 0, width: 1920, height: 1080, fill: '#ffffff' },
  { name: 'Story', x: 2120, y: 0, width: 1080, height: 1920, fill: '#ffffff' },
  { name: 'Post', x: 3400, y: 0, width: 1080, height: 1080, fill: '#ffffff' },
  { name: 'Editorial 4:3', x: 160, y: 1280, width: 1600, height: 1200, fill: '#ffffff' },
  { name: 'Editorial 3:4', x: 4680, y: 0, width: 1200, height: 1600, fill: '#ffffff' },
  // 3:1 has no output size of its own: 16:9 is the nearest, and FILL crops 41% of it away.
  { name: 'Banner', x: 0, y: moodY, width: 3000, height: 1000, fill: '#ffffff' },
  {
    name: 'Mood Dusk',
    x: 3400,
    y: moodY,
    width: MOOD,
    height: MOOD,
    fill: '#3b2a5c',
    shapes: [
      { type: 'ELLIPSE', x: 420, y: 120, width: 300, height: 300, fill: '#ff8a4c' },
      { type: 'RECTANGLE', x: 0, y: 560, width: MOOD, height: 240, fill: '#e85d8a' },
      { type: 'RECTANGLE', x: 80, y: 480, width: 220, height: 80, fill: '#ffd0a8' },
    ],
  },
  {
    name: 'Mood Citrus',
    x: 4300,
    y: moodY,
    width: MOOD,
    height: MOOD,
    fill: '#ffd84d',
    shapes: [
      { type: 'ELLIPSE', x: 90, y: 90, width: 360, height: 360, fill: '#4caf50' },
      { type: 'ELLIPSE', x: 400, y: 380, width: 320, height: 320, fill: '#ff9800' },
      { type: 'RECTANGLE', x: 60, y: 620, width: 300, height: 60, fill: '#ffffff' },
    ],
  },
  {
    name: 'Mood Sea',
    x: 5200,
    y: moodY,
    width: MOOD,
    height: MOOD,
    fill: '#123c69',
    shapes: [
      { type: 'RECTANGLE', x: 0, y: 420, width: MOOD, height: 380, fill: '#1fb5a8' },
      { type: 'ELLIPSE', x: 480, y: 90, width: 200, height: 200, fill: '#f4f1de' },
      { type: 'RECTANGLE', x: 120, y: 360, width: 420, height: 40, fill: '#a8dadc' },
    ],
  },
  {
    name: 'Mood Clay',
    x: 6100,
    y: moodY,
    width: MOOD,
    height: MOOD,
    fill: '#c8694a',
    shapes: [
      { type: 'RECTANGLE', x: 100, y: 100, width: 600, height: 600, fill: '#f2dcc4' },
      { type: 'ELLIPSE', x: 250, y: 250, width: 300, height: 300, fill: '#7a3b2e' },
    ],
  },
];

/** Lays the scene out on the stand-in's current page, as a designer's file would be before the plugin runs. */
export function buildScene(fake: FakeFigma): void {
  for (const spec of SCENE) {
    const frame = fake.frame(spec.width, spec.height, { name: spec.name, x: spec.x, y: spec.y, fill: hex(spec.fill) });
    for (const [i, shape] of (spec.shapes ?? []).entries()) {
      fake.node(shape.type, shape.width, shape.height, {
        name: `${shape.type === 'ELLIPSE' ? 'Ellipse' : 'Rectangle'} ${i + 1}`,
        parent: frame,
        x: shape.x,
        y: shape.y,
        fill: hex(shape.fill),
      });
    }
  }
}
