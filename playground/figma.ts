// The Figma stand-in the playground runs the plugin against: the same node tree the plugin tests use.
// Its one import path lives here, so moving the stand-in is a one-line change.
export { createFigma, type FakeFigma, FakeNode, type Paint } from '../stand-in/figma';
