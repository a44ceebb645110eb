// Small DOM helpers: build elements without HTML strings (no innerHTML anywhere, so nothing
// the archive holds can ever become markup), find them, size canvases.

type Child = Node | string | number | null | undefined | false;

/** `el("td", {class: "num"}, "12")`: attributes as strings; `null`/`false` children skipped. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "number" ? String(c) : c);
  }
  return e;
}

/** The element with this id (the page's skeleton is static: a missing one is a bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

export function setText(id: string, text: string): void {
  const e = byId(id);
  if (e.textContent !== text) e.textContent = text;
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.append(typeof c === "number" ? String(c) : c);
  }
}

/** A definition list's rows. */
export function facts(dl: Element, rows: [string, Child][]): void {
  fill(dl, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

/**
 * A 2-D context for `canvas`, its backing store matched to its CSS size and the display's
 * pixel ratio; returns the size in CSS pixels (0 while hidden).
 */
export function context(canvas: HTMLCanvasElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const bw = Math.max(1, Math.round(w * ratio));
  const bh = Math.max(1, Math.round(h * ratio));
  if (canvas.width !== bw || canvas.height !== bh) {
    canvas.width = bw;
    canvas.height = bh;
  }
  const g = canvas.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  return { g, w, h };
}

const backgrounds = new WeakMap<HTMLCanvasElement, { w: number; h: number; image: HTMLCanvasElement }>();

/**
 * Paints `canvas`'s static background (scales, zones, ticks) from a copy drawn once per size:
 * a live display then redraws only what moves, which on a software-rendered webview is most
 * of the cost of a frame.
 */
export function background(
  canvas: HTMLCanvasElement,
  g: CanvasRenderingContext2D,
  w: number,
  h: number,
  draw: (g: CanvasRenderingContext2D, w: number, h: number) => void,
): void {
  let cached = backgrounds.get(canvas);
  if (!cached || cached.w !== canvas.width || cached.h !== canvas.height) {
    const image = document.createElement("canvas");
    image.width = canvas.width;
    image.height = canvas.height;
    const bg = image.getContext("2d")!;
    bg.setTransform(canvas.width / w, 0, 0, canvas.height / h, 0, 0);
    draw(bg, w, h);
    cached = { w: canvas.width, h: canvas.height, image };
    backgrounds.set(canvas, cached);
  }
  g.save();
  g.setTransform(1, 0, 0, 1, 0, 0);
  g.drawImage(cached.image, 0, 0);
  g.restore();
}
