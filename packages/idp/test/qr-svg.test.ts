/**
 * The login page's QR code as a phone sees it: the SVG is rasterised here (its strokes are the dark modules) and
 * read back by jsQR, an independent decoder, which must return the exact link, for the first link of a length (best
 * mask) and for the many that follow (the mask kept from the first).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import jsqr from 'jsqr';
import { qrSvg } from '../src/interactions/qr-svg.ts';

// A CommonJS bundle: Node's default import is its module.exports, whose `default` is the decoder (the type says so).
const jsQR = jsqr.default;

/** Pixels per module. */
const SCALE = 4;

/** Rasterises our SVG (a viewBox square, a white background, `M x y h n` strokes of width 1) to RGBA. */
function rasterise(svg: string): { data: Uint8ClampedArray; width: number; height: number } {
  const box = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  assert.ok(box, 'viewBox');
  const n = Number(box[1]);
  assert.equal(Number(box[2]), n);
  const width = n * SCALE;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  const strokes = /<path stroke="#000000" d="([^"]*)"/.exec(svg);
  assert.ok(strokes, 'stroke path');
  const runs = [...strokes[1]!.matchAll(/M(\d+) (\d+(?:\.5)?)h(\d+)/g)];
  assert.ok(runs.length > 0);
  // Nothing but absolute runs: the whole path is accounted for by the matches.
  assert.equal(runs.map((m) => m[0]).join(''), strokes[1]);
  for (const [, x, y, len] of runs) {
    const row = Number(y) - 0.5;
    for (let col = Number(x); col < Number(x) + Number(len); col++)
      for (let dy = 0; dy < SCALE; dy++)
        for (let dx = 0; dx < SCALE; dx++) {
          const p = ((row * SCALE + dy) * width + col * SCALE + dx) * 4;
          data[p] = data[p + 1] = data[p + 2] = 0;
        }
  }
  return { data, width, height: width };
}

function read(svg: string): string | undefined {
  const { data, width, height } = rasterise(svg);
  return jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data;
}

describe('QR code SVG', () => {
  it('decodes to the exact link: the codes of many transactions, rendered with the mask kept per length', async () => {
    for (let i = 0; i < 40; i++) {
      const txn = randomBytes(16).toString('base64url');
      for (let t = 1_800_000_000; t < 1_800_000_002; t++) {
        const link = `https://id.example.jp/companion/${txn}?t=${t}&c=${randomBytes(6).toString('base64url')}`;
        assert.equal(read(await qrSvg(link)), link);
      }
    }
  });

  it('decodes links of other lengths and characters (byte mode)', async () => {
    for (const link of ['https://a.jp/c/x?t=1&c=2', `https://例え.jp/c/${'y'.repeat(120)}?t=99&c=${'z'.repeat(40)}`]) {
      assert.equal(read(await qrSvg(link)), link);
    }
  });

  it('answers the same link from its cache, as one flat string', async () => {
    const link = `https://id.example.jp/c/${randomBytes(16).toString('base64url')}?t=5&c=abc`;
    const a = await qrSvg(link);
    assert.equal(await qrSvg(link), a);
    assert.match(
      a,
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+" shape-rendering="crispEdges">/,
    );
  });

  it('refuses a link too long for any QR version', async () => {
    await assert.rejects(qrSvg(`https://id.example.jp/${'x'.repeat(3000)}`), /too big|amount of data/i);
  });
});
