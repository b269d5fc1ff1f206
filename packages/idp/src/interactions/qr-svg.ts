/** Renders a QR link as inline SVG (server side: the page never needs the QR secret or a script library). */
import QRCode from 'qrcode';

/**
 * SVG markup of a QR code for `link`, error correction M (readable from a screen at arm's length). The link is
 * encoded as one byte-mode segment: the library's search for the shortest mix of modes costs about 40 % of the
 * rendering and gains nothing on a URL, and every waiting login page renders a new code each second.
 */
export async function qrSvg(link: string): Promise<string> {
  return QRCode.toString([{ data: Buffer.from(link, 'utf8'), mode: 'byte' }], {
    type: 'svg',
    errorCorrectionLevel: 'M',
    margin: 2,
  });
}
