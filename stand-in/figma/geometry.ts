// Path data as Figma's plugin API speaks it (https://developers.figma.com/docs/plugins/api/VectorPath): "a subset
// of the SVG path format", commands "joined into a single string … separated by a single space": absolute
// `M x y`, `L x y`, `Q x0 y0 x y`, `C x0 y0 x1 y1 x y` and `Z`. Figma accepts Q as input but "will never generate
// this ourselves. All quadratic splines are converted to cubic splines internally", so parsed paths keep only
// M, L, C and Z. The stand-in refuses anything else (relative commands, H/V/S/T/A, commas, doubled spaces) rather
// than guess what Figma would make of it. Never imports src/ or ui/: the playground ships this.

export type Segment =
  | { op: 'M' | 'L'; points: [number, number][] }
  | { op: 'C'; points: [number, number][] }
  | { op: 'Z'; points: [] };

const ARITY: Readonly<Record<string, number>> = { M: 2, L: 2, Q: 4, C: 6, Z: 0 };

/** Parses Figma path data; throws on anything outside the documented subset. */
export function parsePath(data: string): Segment[] {
  if (typeof data !== 'string') throw new TypeError('VectorPath data must be a string');
  const fail = (why: string): never => {
    throw new Error(`Invalid VectorPath data "${data.slice(0, 80)}": ${why}`);
  };
  if (data === '') return [];
  const tokens = data.split(' ');
  const segments: Segment[] = [];
  let at: [number, number] | undefined;
  let i = 0;
  while (i < tokens.length) {
    const op = tokens[i++] ?? '';
    const arity = ARITY[op];
    if (arity === undefined) fail(`"${op}" is not one of M, L, Q, C, Z (absolute, separated by single spaces)`);
    const numbers = tokens
      .slice(i, i + (arity ?? 0))
      .map((token) => (/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(token) ? Number(token) : Number.NaN));
    if (numbers.length !== arity || numbers.some((n) => !Number.isFinite(n))) fail(`${op} needs ${arity} numbers`);
    i += arity ?? 0;
    const points: [number, number][] = [];
    for (let k = 0; k < numbers.length; k += 2) points.push([numbers[k] as number, numbers[k + 1] as number]);
    if (segments.length === 0 && op !== 'M') fail('a path starts with M');
    if (op === 'Q') {
      // The cubic that draws the same quadratic: control points two thirds of the way to the quadratic's one.
      const [p0, [qx, qy], p] = [at as [number, number], points[0] as [number, number], points[1] as [number, number]];
      segments.push({
        op: 'C',
        points: [
          [p0[0] + (2 / 3) * (qx - p0[0]), p0[1] + (2 / 3) * (qy - p0[1])],
          [p[0] + (2 / 3) * (qx - p[0]), p[1] + (2 / 3) * (qy - p[1])],
          p,
        ],
      });
    } else if (op === 'Z') segments.push({ op, points: [] });
    else segments.push({ op: op as 'M' | 'L' | 'C', points });
    if (points.length > 0) at = points[points.length - 1];
  }
  return segments;
}

/** Path data back in Figma's form: single spaces, absolute commands. */
export function formatPath(segments: readonly Segment[]): string {
  const number = (v: number) => String(Math.round(v * 1e6) / 1e6 || 0);
  return segments.map((s) => [s.op, ...s.points.flatMap(([x, y]) => [number(x), number(y)])].join(' ')).join(' ');
}

/** Every point mapped by x' = a·x + c·y + e, y' = b·x + d·y + f. */
export function transformPath(
  segments: readonly Segment[],
  [a, b, c, d, e, f]: readonly [number, number, number, number, number, number],
): Segment[] {
  return segments.map(
    (s) => ({ op: s.op, points: s.points.map(([x, y]) => [a * x + c * y + e, b * x + d * y + f]) }) as Segment,
  );
}

/**
 * Each subpath's signed area over its polygon of end and control points (y down: positive turns clockwise on
 * screen). For the convex outlines the stand-in unites, the control polygon turns the same way as the curve.
 */
export function subpathAreas(segments: readonly Segment[]): number[] {
  const areas: number[] = [];
  let ring: [number, number][] = [];
  const close = () => {
    if (ring.length < 3) {
      ring = [];
      return;
    }
    let sum = 0;
    for (let k = 0; k < ring.length; k++) {
      const [x0, y0] = ring[k] as [number, number];
      const [x1, y1] = ring[(k + 1) % ring.length] as [number, number];
      sum += x0 * y1 - x1 * y0;
    }
    areas.push(sum / 2);
    ring = [];
  };
  for (const s of segments) {
    if (s.op === 'M') close();
    if (s.op === 'Z') close();
    else ring.push(...s.points);
  }
  close();
  return areas;
}
