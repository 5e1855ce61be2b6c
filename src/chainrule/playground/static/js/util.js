// Small helpers every panel uses: element lookup, colours, pictures, number formats.
export const $ = (id) => document.getElementById(id);

export const BLUE = [8, 119, 189], ORANGE = [245, 147, 34], MID = [232, 234, 235];
export const GRAD_POS = "#b0306a", GRAD_NEG = "#138a72";

function mix(a, b, t) { return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]; }
// v in [0,1]: 0 orange, 0.5 light grey, 1 blue; "soft" lightens the ends for backgrounds
function lut(soft) {
  const out = new Uint8ClampedArray(256 * 3);
  const o = soft ? mix(ORANGE, [255, 255, 255], 0.25) : ORANGE;
  const b = soft ? mix(BLUE, [255, 255, 255], 0.25) : BLUE;
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const c = t < 0.5 ? mix(o, MID, t / 0.5) : mix(MID, b, (t - 0.5) / 0.5);
    out[3 * i] = c[0]; out[3 * i + 1] = c[1]; out[3 * i + 2] = c[2];
  }
  return out;
}
export const LUT_SOFT = lut(true), LUT = lut(false);
export const GREY = (() => { const g = new Uint8ClampedArray(256 * 3); for (let i = 0; i < 256; i++) g[3 * i] = g[3 * i + 1] = g[3 * i + 2] = i; return g; })();

export function b64bytes(s) {
  const bin = atob(s), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// paint n x n uint8 values onto a canvas (whatever its size) through a colour table
const scratch = document.createElement("canvas");
export function paintMap(canvas, bytes, n, table, smooth) {
  scratch.width = n; scratch.height = n;
  const sctx = scratch.getContext("2d");
  const img = sctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const v = bytes[i] * 3;
    img.data[4 * i] = table[v]; img.data[4 * i + 1] = table[v + 1]; img.data[4 * i + 2] = table[v + 2]; img.data[4 * i + 3] = 255;
  }
  sctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = smooth;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

// size a canvas's backing store to its CSS size x devicePixelRatio; returns [ctx, cssW, cssH]
export function hiDPI(canvas) {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  const W = Math.round(w * dpr), H = Math.round(h * dpr);
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, w, h];
}

export const fmt = (x, d = 3) => (x === null || x === undefined || !isFinite(x)) ? "–" : Number(x).toFixed(d);
export const fmtSci = (x) => (x === null || x === undefined || !isFinite(x)) ? "NaN"
  : (x === 0 ? "0" : Math.abs(x) >= 0.01 && Math.abs(x) < 1000 ? x.toPrecision(2) : x.toExponential(1));
