/** HTML helpers of the IdP's pages. Every interpolated value goes through `escape`. */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escape(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A template tag that escapes every interpolation except values made by `raw`. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out +=
      (v instanceof Raw
        ? v.value
        : Array.isArray(v)
          ? v.map((x) => (x instanceof Raw ? x.value : escape(x))).join('')
          : escape(v)) + strings[i + 1]!;
  });
  return new Raw(out);
}

/** Trusted markup (already escaped or built by `html`). */
export class Raw {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
}

/** Marks markup as trusted. Only for markup made here (QR SVG from the qrcode package, JSON for scripts). */
export function raw(value: string): Raw {
  return new Raw(value);
}

/** JSON safe inside a `<script>` element (no `</script>` or `<!--` can close it). */
export function scriptJson(value: unknown): Raw {
  return new Raw(JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026'));
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;background:#f4f6f8;color:#1b1f24}
main{max-width:34rem;margin:2rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:0 0 .5rem} .en{color:#57606a;font-size:.9em;display:block}
.qr{display:flex;justify-content:center;margin:1rem 0} .qr svg{width:16rem;height:16rem}
.status{min-height:3rem;margin:1rem 0;padding:.75rem;border-radius:8px;background:#eef3f8}
.status.error{background:#fdecea;color:#8a1c12} .status.done{background:#e7f6ec;color:#114d22}
button,.button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:#0b57d0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem} dt{font-weight:600}
input,select{font:inherit;padding:.5rem;border:1px solid #8c959f;border-radius:6px}
label{display:block;margin:.75rem 0 .25rem}
`;

/** The page frame. `nonce` allows the page's one inline script under the CSP. */
export function page(input: { title: string; body: Raw; nonce?: string; script?: Raw }): string {
  const script =
    input.script && input.nonce
      ? html`<script nonce="${input.nonce}">
          ${input.script};
        </script>`
      : raw('');
  return html`<!doctype html>
    <html lang="ja">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>${input.title}</title>
        <style>
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        <main>${input.body}</main>
        ${script}
      </body>
    </html>`.value;
}

/** Page-script helper: `show(ja, en, kind)` puts a bilingual message in the page's `#status` (kind: error, done). */
export const SHOW_STATUS_SCRIPT = `
function show(ja, en, kind) {
  const s = document.getElementById('status');
  s.className = 'status' + (kind ? ' ' + kind : '');
  s.textContent = ja;
  const span = document.createElement('span');
  span.className = 'en';
  span.lang = 'en';
  span.textContent = en;
  s.appendChild(span);
}
`;
