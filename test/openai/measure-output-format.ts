// The measurement behind the default `output_format` (README, "Output format"): bytes and visual cost of a 4K
// result as PNG and as JPEG at several `output_compression` levels. Figma places PNG and JPEG, not WebP
// (https://developers.figma.com/docs/plugins/api/properties/figma-createimage/). Not a test; run it with
// `node test/openai/measure-output-format.ts` (Node 24 runs TypeScript directly).
//
// Photo-like: 1/f-like colour noise (random fields at 8 … 2048 px scales, resized up with a cubic kernel), hard
// edges (shapes) and sensor-like grain, the statistics of a photograph rather than a flat illustration.
// Illustration-like: flat shapes and smooth gradients, what a design file often asks for. OpenAI's own encoder and
// its mapping of `output_compression` to a JPEG quality are not documented; libjpeg-turbo (sharp) at quality =
// output_compression stands in for it.
import sharp from 'sharp';

const WIDTH = 3840;
const HEIGHT = 2160;
const CHANNELS = 3;

/** A deterministic pseudo-random source, so every run measures the same image. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function photoLike(): Promise<Buffer> {
  const next = random(16);
  const sum = new Float32Array(WIDTH * HEIGHT * CHANNELS);
  let weights = 0;
  for (const scale of [8, 32, 128, 512, 2048]) {
    const w = Math.ceil(WIDTH / scale) + 1;
    const h = Math.ceil(HEIGHT / scale) + 1;
    const field = Buffer.alloc(w * h * CHANNELS);
    for (let i = 0; i < field.length; i++) field[i] = Math.floor(next() * 256);
    const up = await sharp(field, { raw: { width: w, height: h, channels: CHANNELS } })
      .resize(WIDTH, HEIGHT, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
    const weight = scale ** 0.9;
    weights += weight;
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] ?? 0) + (up[i] ?? 0) * weight;
  }
  const pixels = Buffer.alloc(sum.length);
  for (let i = 0; i < sum.length; i++) {
    // Stretch the averaged field back to a photo's contrast, then add grain (σ ≈ 3 levels).
    const value = ((sum[i] ?? 0) / weights - 128) * 3 + 128 + (next() + next() + next() - 1.5) * 6;
    pixels[i] = Math.max(0, Math.min(255, Math.round(value)));
  }
  const shapes = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
      <rect x="300" y="1400" width="1400" height="500" fill="rgb(40,40,48)" fill-opacity="0.7"/>
      <circle cx="2900" cy="700" r="420" fill="rgb(250,230,200)" fill-opacity="0.6"/>
      <polygon points="1800,300 2400,1900 1500,1900" fill="rgb(20,90,60)" fill-opacity="0.5"/>
      <text x="200" y="300" font-size="160" font-family="sans-serif" fill="white">Framefill 4K sample</text>
    </svg>`,
  );
  return sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: CHANNELS } })
    .composite([{ input: shapes }])
    .removeAlpha()
    .raw()
    .toBuffer();
}

async function illustrationLike(): Promise<Buffer> {
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
      <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
        <stop offset="0" stop-color="#1d3b72"/><stop offset="1" stop-color="#f2a65a"/></linearGradient></defs>
      <rect width="${WIDTH}" height="${HEIGHT}" fill="url(#sky)"/>
      <circle cx="2800" cy="900" r="380" fill="#ffe3a3"/>
      <polygon points="0,2160 1200,1100 2300,2160" fill="#22324d"/>
      <polygon points="1400,2160 2700,1300 3840,2160" fill="#2d4466"/>
      <rect x="600" y="1500" width="260" height="660" fill="#f4f1ea"/>
      <text x="200" y="300" font-size="160" font-family="sans-serif" fill="white">Framefill 4K sample</text>
    </svg>`,
  );
  return sharp(svg).removeAlpha().raw().toBuffer();
}

interface Quality {
  psnr: number;
  ssim: number;
}

/** PSNR over RGB; SSIM on luma (BT.601) over 8 × 8 windows with a 4-pixel stride. */
function compare(reference: Buffer, candidate: Buffer): Quality {
  let squared = 0;
  for (let i = 0; i < reference.length; i++) squared += ((reference[i] ?? 0) - (candidate[i] ?? 0)) ** 2;
  const mse = squared / reference.length;
  const psnr = mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
  const luma = (buffer: Buffer, x: number, y: number) => {
    const i = (y * WIDTH + x) * CHANNELS;
    return 0.299 * (buffer[i] ?? 0) + 0.587 * (buffer[i + 1] ?? 0) + 0.114 * (buffer[i + 2] ?? 0);
  };
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  let windows = 0;
  for (let y = 0; y + 8 <= HEIGHT; y += 4) {
    for (let x = 0; x + 8 <= WIDTH; x += 4) {
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let dy = 0; dy < 8; dy++) {
        for (let dx = 0; dx < 8; dx++) {
          const a = luma(reference, x + dx, y + dy);
          const b = luma(candidate, x + dx, y + dy);
          sa += a;
          sb += b;
          saa += a * a;
          sbb += b * b;
          sab += a * b;
        }
      }
      const n = 64;
      const ma = sa / n;
      const mb = sb / n;
      const va = saa / n - ma * ma;
      const vb = sbb / n - mb * mb;
      const cov = sab / n - ma * mb;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      windows++;
    }
  }
  return { psnr, ssim: total / windows };
}

async function measure(name: string, pixels: Buffer): Promise<void> {
  const raw = { raw: { width: WIDTH, height: HEIGHT, channels: CHANNELS } as const };
  const png = await sharp(pixels, raw).png({ compressionLevel: 6 }).toBuffer();
  console.log(`${name} ${WIDTH}×${HEIGHT}`);
  console.log(`  PNG (zlib level 6)   ${(png.length / 1e6).toFixed(2)} MB  lossless`);
  for (const quality of [100, 95, 90, 85, 75]) {
    const jpeg = await sharp(pixels, raw).jpeg({ quality }).toBuffer();
    const decoded = await sharp(jpeg).removeAlpha().raw().toBuffer();
    const { psnr, ssim } = compare(pixels, decoded);
    const ratio = png.length / jpeg.length;
    console.log(
      `  JPEG q${String(quality).padEnd(3)}           ${(jpeg.length / 1e6).toFixed(2)} MB  ${ratio.toFixed(1)}× smaller  PSNR ${psnr.toFixed(1)} dB  SSIM ${ssim.toFixed(4)}`,
    );
  }
}

await measure('photo-like', await photoLike());
await measure('illustration-like', await illustrationLike());
