/** Renders a QR link as inline SVG (server side: the page never needs the QR secret or a script library). */
import QRCode from 'qrcode';

/** SVG markup of a QR code for `link`, error correction M (readable from a screen at arm's length). */
export async function qrSvg(link: string): Promise<string> {
  return QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
