/** Renders a QR link as inline SVG (server side: the page never needs the QR secret or a script library). */
import QRCode from 'qrcode';

/**
 * Links rendered lately. A link names its transaction and second, so the page and the first `qr` event of its
 * stream (and two tabs of one login) ask for the same one within the second; a rendering costs about half a
 * millisecond of CPU (mostly the search for the best mask), the cache a map lookup. Bounded: oldest out first.
 */
const recent = new Map<string, Promise<string>>();
const RECENT_MAX = 256;

/**
 * SVG markup of a QR code for `link`, error correction M (readable from a screen at arm's length). The link is
 * encoded as one byte-mode segment: the library's search for the shortest mix of modes costs about 40 % of the
 * rendering and gains nothing on a URL, and every waiting login page renders a new code each second.
 */
export function qrSvg(link: string): Promise<string> {
  let svg = recent.get(link);
  if (svg === undefined) {
    svg = QRCode.toString([{ data: Buffer.from(link, 'utf8'), mode: 'byte' }], {
      type: 'svg',
      errorCorrectionLevel: 'M',
      margin: 2,
    });
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
    recent.set(link, svg);
    // A failed render is not kept.
    svg.catch(() => recent.delete(link));
  }
  return svg;
}
