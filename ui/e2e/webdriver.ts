// A minimal W3C WebDriver client over Node's fetch: enough to drive the app through
// WebKitWebDriver (sessions, elements, clicks, keys, scripts, screenshots).

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class WebDriverError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(`${error}: ${message}`);
  }
}

async function request<T>(method: string, url: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json()) as { value: T & { error?: string; message?: string } };
  if (!res.ok || (json.value && typeof json.value === "object" && "error" in json.value && json.value.error)) {
    const v = json.value as { error?: string; message?: string };
    throw new WebDriverError(v.error ?? String(res.status), v.message ?? "");
  }
  return json.value;
}

/** Waits until the driver at `base` answers that it is ready. */
export async function waitForDriver(base: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = await request<{ ready: boolean }>("GET", `${base}/status`, undefined, 2000);
      if (s.ready) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`no WebDriver at ${base} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Session {
  private constructor(
    private readonly base: string,
    readonly id: string,
  ) {}

  static async create(base: string, capabilities: Record<string, unknown>): Promise<Session> {
    const v = await request<{ sessionId: string }>("POST", `${base}/session`, { capabilities: { alwaysMatch: capabilities } }, 120_000);
    return new Session(base, v.sessionId);
  }

  private url(path: string): string {
    return `${this.base}/session/${this.id}${path}`;
  }

  async delete(): Promise<void> {
    await request("DELETE", this.url(""), undefined, 20_000).catch(() => undefined);
  }

  /** The first element matching `css`; throws `no such element` if none. */
  async find(css: string): Promise<Element> {
    const v = await request<Record<string, string>>("POST", this.url("/element"), { using: "css selector", value: css });
    return new Element(this, v[ELEMENT]!);
  }

  async findAll(css: string): Promise<Element[]> {
    const v = await request<Record<string, string>[]>("POST", this.url("/elements"), { using: "css selector", value: css });
    return v.map((e) => new Element(this, e[ELEMENT]!));
  }

  /** Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value. */
  async execute<T>(script: string, ...args: unknown[]): Promise<T> {
    return request<T>("POST", this.url("/execute/sync"), { script, args });
  }

  /** Runs an async script: its last argument is the callback to call with the result. */
  async executeAsync<T>(script: string, ...args: unknown[]): Promise<T> {
    return request<T>("POST", this.url("/execute/async"), { script, args });
  }

  /** A PNG of the page as shown. */
  async screenshot(): Promise<Buffer> {
    const b64 = await request<string>("GET", this.url("/screenshot"));
    return Buffer.from(b64, "base64");
  }

  /** Polls `probe` until it returns a truthy value, or fails with `what` after `timeoutMs`. */
  async until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
      await sleep(everyMs);
    }
  }

  /** Clicks `target` `dx` pixels right of its centre (W3C pointer actions). */
  async clickAt(target: Element, dx: number): Promise<void> {
    const origin = { "element-6066-11e4-a52e-4f735466cecf": target.id };
    await request("POST", this.url("/actions"), {
      actions: [
        {
          type: "pointer",
          id: "mouse",
          parameters: { pointerType: "mouse" },
          actions: [
            { type: "pointerMove", duration: 0, origin, x: Math.round(dx), y: 0 },
            { type: "pointerDown", button: 0 },
            { type: "pointerUp", button: 0 },
          ],
        },
      ],
    });
    await request("DELETE", this.url("/actions"));
  }

  /** Sends keys to whatever has focus (W3C actions). */
  async press(key: string): Promise<void> {
    await request("POST", this.url("/actions"), {
      actions: [{ type: "key", id: "keyboard", actions: [{ type: "keyDown", value: key }, { type: "keyUp", value: key }] }],
    });
    await request("DELETE", this.url("/actions"));
  }
}

export class Element {
  constructor(
    private readonly session: Session,
    readonly id: string,
  ) {}

  private url(path: string): string {
    return `${(this.session as unknown as { base: string }).base}/session/${this.session.id}/element/${this.id}${path}`;
  }

  async click(): Promise<void> {
    await request("POST", this.url("/click"), {});
  }

  async clear(): Promise<void> {
    await request("POST", this.url("/clear"), {});
  }

  async type(text: string): Promise<void> {
    await request("POST", this.url("/value"), { text });
  }

  async text(): Promise<string> {
    return request<string>("GET", this.url("/text"));
  }

  async attribute(name: string): Promise<string | null> {
    return request<string | null>("GET", this.url(`/attribute/${encodeURIComponent(name)}`));
  }

  async property<T>(name: string): Promise<T> {
    return request<T>("GET", this.url(`/property/${encodeURIComponent(name)}`));
  }

  async enabled(): Promise<boolean> {
    return request<boolean>("GET", this.url("/enabled"));
  }

  async displayed(): Promise<boolean> {
    return request<boolean>("GET", this.url("/displayed"));
  }
}
