/** Renders a QR link as inline SVG (server side: the page never needs the QR secret or a script library). */
import QRCode from 'qrcode';
import type { QRCodeMaskPattern } from 'qrcode';

/**
 * Links rendered lately. A link names its transaction and second, so the page and the first `qr` event of its
 * stream (and two tabs of one login) ask for the same one within the second; the cache is a map lookup. Bounded,
 * oldest out first, and small: a code is asked for again only within its second, and every code kept longer
 * survives young-generation collections to be copied and promoted (with 256 entries, every code rendered was).
 */
const recent = new Map<string, string>();
const RECENT_MAX = 16;

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
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${full} ${full}" shape-rendering="crispEdges"><path fill="#ffffff" d="M0 0h${full}v${full}H0z"/><path stroke="#000000" d="`;
  const tail = '"/></svg>\n';
  // Written as ASCII into one scratch buffer and read out as one flat string: a rendering allocates the result and
  // nothing else per stroke (it used to be about 80 KB of short strings per code, at every login page).
  // A stroke is at most `M` + 3 digits + ` ` + 3 digits + `.5h` + 3 digits.
  const need = head.length + tail.length + 14 * Math.ceil((size * size) / 2);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
  const buf = scratch;
  let n = buf.write(head, 0, 'latin1');
  // Each horizontal run of dark modules is one stroke along the middle of its row: `M x y` then `h length`.
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size;) {
      if (!data[row * size + col]) {
        col++;
        continue;
      }
      const start = col;
      while (col < size && data[row * size + col]) col++;
      buf[n++] = 0x4d; // M
      n = digits(buf, n, start + MARGIN);
      buf[n++] = 0x20;
      n = digits(buf, n, row + MARGIN);
      buf[n++] = 0x2e; // .5: the middle of the row
      buf[n++] = 0x35;
      buf[n++] = 0x68; // h
      n = digits(buf, n, col - start);
    }
  }
  n += buf.write(tail, n, 'latin1');
  return buf.toString('latin1', 0, n);
}

/** The buffer renderings are written into (grown as needed; one process renders one code at a time). */
let scratch = Buffer.allocUnsafe(0);

/** Writes the decimal digits of `v` (a non-negative integer below 1000) at `at`; returns the next offset. */
function digits(buf: Buffer, at: number, v: number): number {
  if (v >= 100) buf[at++] = 0x30 + Math.floor(v / 100);
  if (v >= 10) buf[at++] = 0x30 + (Math.floor(v / 10) % 10);
  buf[at++] = 0x30 + (v % 10);
  return at;
}
