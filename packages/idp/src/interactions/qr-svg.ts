/** Renders a QR link as inline SVG (server side: the page never needs the QR secret or a script library). */
import QRCode from 'qrcode';
import type { QRCodeMaskPattern } from 'qrcode';

/**
 * Links rendered lately. A link names its transaction and second, so the page and the first `qr` event of its
 * stream (and two tabs of one login) ask for the same one within the second; the cache is a map lookup. Bounded:
 * oldest out first.
 */
const recent = new Map<string, string>();
const RECENT_MAX = 256;

/**
 * The mask pattern chosen for the first link of each length. ISO/IEC 18004 §7.8 has the encoder pick, of the eight
 * masks, the one whose symbol scores the lowest penalty (fewest runs, blocks and finder-like patterns); evaluating
 * all eight is about 85 % of a rendering, and every login page and every second of a waiting one renders a code.
 * Links of one length share the version, the function patterns and most of their bytes (origin, path, the query's
 * shape), so the mask found for one is kept for the rest: any mask decodes (readers take it from the format
 * information), and the choice only trims how often a module pattern looks like a finder. The tests read many
 * links rendered this way back with an independent decoder.
 */
const masks = new Map<number, QRCodeMaskPattern>();

/**
 * SVG markup of a QR code for `link`, error correction M (readable from a screen at arm's length), as one flat
 * string. The link is encoded as one byte-mode segment: the library's search for the shortest mix of modes costs
 * about 40 % of the rendering and gains nothing on a URL.
 *
 * The markup is built here from the symbol's modules rather than by the library's SVG renderer, which appends
 * thousands of small strings: the result is a deep rope that every write must flatten and that, kept in the cache
 * above, makes each young-generation GC copy thousands of pieces (most of the provider's promoted memory under
 * load).
 */
export function qrSvg(link: string): Promise<string> {
  let svg = recent.get(link);
  if (svg === undefined) {
    try {
      svg = render(link);
    } catch (e) {
      return Promise.reject(e);
    }
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
    recent.set(link, svg);
  }
  return Promise.resolve(svg);
}

const MARGIN = 2;

function render(link: string): string {
  const bytes = Buffer.from(link, 'utf8');
  const mask = masks.get(bytes.length);
  const symbol = QRCode.create([{ data: bytes, mode: 'byte' }], {
    errorCorrectionLevel: 'M',
    ...(mask === undefined ? {} : { maskPattern: mask }),
  });
  if (mask === undefined && symbol.maskPattern !== undefined) {
    if (masks.size >= RECENT_MAX) masks.delete(masks.keys().next().value!);
    masks.set(bytes.length, symbol.maskPattern);
  }
  const { size, data } = symbol.modules;
  const full = size + 2 * MARGIN;
  // Each horizontal run of dark modules is one stroke along the middle of its row: `M x y` then `h length`.
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${full} ${full}" shape-rendering="crispEdges">`,
    `<path fill="#ffffff" d="M0 0h${full}v${full}H0z"/><path stroke="#000000" d="`,
  ];
  for (let row = 0; row < size; row++) {
    const y = row + MARGIN + 0.5;
    for (let col = 0; col < size;) {
      if (!data[row * size + col]) {
        col++;
        continue;
      }
      const start = col;
      while (col < size && data[row * size + col]) col++;
      parts.push(`M${start + MARGIN} ${y}h${col - start}`);
    }
  }
  parts.push('"/></svg>\n');
  return parts.join('');
}
