// §6 The result's format: a 4K result as PNG and as JPEG at several `output_compression` levels, bytes and visual
// cost, for a photo-like image and a flat illustration. The measurement behind the default `output_format`
// (README "Output format"). Figma places PNG and JPEG, not WebP
// (https://developers.figma.com/docs/plugins/api/properties/figma-createimage/). OpenAI's encoder and its mapping of
// `output_compression` to a JPEG quality are not documented; libjpeg-turbo (sharp) at quality = output_compression
// stands in for it.
import sharp from 'sharp';
import { decodeRgb, encode, photoLike, psnr, type RawImage, ssim } from './fixtures';
import type { Row } from './stats';

const WIDTH = 3840;
const HEIGHT = 2160;
const COMPRESSIONS = [100, 95, 90, 75] as const;
const MB = 1024 * 1024;

async function illustration(): Promise<RawImage> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1d3b72"/><stop offset="1" stop-color="#f2a65a"/></linearGradient></defs>
    <rect width="${WIDTH}" height="${HEIGHT}" fill="url(#sky)"/>
    <circle cx="2800" cy="900" r="380" fill="#ffe3a3"/>
    <polygon points="0,2160 1200,1100 2300,2160" fill="#22324d"/>
    <polygon points="1400,2160 2700,1300 3840,2160" fill="#2d4466"/>
    <rect x="600" y="1500" width="260" height="660" fill="#f4f1ea"/>
  </svg>`;
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: 3 };
}

function row(metric: string, unit: string, value: number): Row {
  return { section: '6', metric, unit, summary: { runs: 1, min: value, median: value, max: value } };
}

export async function measureOutputFormat(): Promise<Row[]> {
  const rows: Row[] = [];
  const contents: Array<[string, RawImage]> = [
    ['photo-like', await photoLike(WIDTH, HEIGHT, 16)],
    ['illustration', await illustration()],
  ];
  for (const [name, image] of contents) {
    rows.push(row(`4K ${name} result as PNG`, 'MB', (await encode(image, 'png')).length / MB));
    for (const compression of COMPRESSIONS) {
      const jpeg = await encode(image, 'jpeg', compression);
      const decoded = await decodeRgb(jpeg);
      rows.push(row(`  as JPEG, output_compression ${compression}`, 'MB', jpeg.length / MB));
      rows.push(row(`    PSNR vs the pixels`, 'dB', psnr(image, decoded)));
      rows.push(row(`    SSIM vs the pixels`, 'SSIM', ssim(image, decoded)));
    }
  }
  return rows;
}
