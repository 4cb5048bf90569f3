/**
 * Just enough of a DOM for the sdk's iframe code to run in Node (there is no jsdom here):
 * elements with attributes, style and children, an iframe whose contentWindow exists while it is
 * in the document, and a window whose `message` listeners a test can call.
 */
import type { FrameEnvironment } from '../frame.ts';

export interface PostedMessage {
  message: unknown;
  targetOrigin: string;
}

/** The wallet's window inside a fake iframe. */
export class FakeFrameWindow {
  readonly posted: PostedMessage[] = [];
  postMessage(message: unknown, targetOrigin: string): void {
    this.posted.push({ message: structuredClone(message), targetOrigin });
  }
}

export class FakeElement {
  readonly style: Record<string, string> = {};
  readonly attributes = new Map<string, string>();
  readonly children: FakeElement[] = [];
  parent: FakeElement | null = null;
  title = '';
  src = '';
  focused = false;
  readonly #frameWindow: FakeFrameWindow | null;

  constructor(
    readonly tagName: string,
    private readonly root: () => FakeElement,
  ) {
    this.#frameWindow = tagName === 'iframe' ? new FakeFrameWindow() : null;
  }

  get isConnected(): boolean {
    const root = this.root();
    if (this === root) return true;
    for (let node = this.parent; node; node = node.parent) if (node === root) return true;
    return false;
  }

  /** Like a real iframe: null while not in the document. */
  get contentWindow(): FakeFrameWindow | null {
    return this.isConnected ? this.#frameWindow : null;
  }

  /** The frame's window even after removal, for assertions. */
  get frameWindow(): FakeFrameWindow {
    if (!this.#frameWindow) throw new Error('not an iframe');
    return this.#frameWindow;
  }

  setAttribute(name: string, value: string): void {
    this.attributes.set(name, String(value));
  }
  getAttribute(name: string): string | null {
    return this.attributes.get(name) ?? null;
  }
  removeAttribute(name: string): void {
    this.attributes.delete(name);
  }
  appendChild(child: FakeElement): FakeElement {
    child.remove();
    child.parent = this;
    this.children.push(child);
    return child;
  }
  remove(): void {
    if (!this.parent) return;
    this.parent.children.splice(this.parent.children.indexOf(this), 1);
    this.parent = null;
  }
  focus(): void {
    this.focused = true;
  }
  /** Every descendant, depth first. */
  all(): FakeElement[] {
    return this.children.flatMap((c) => [c, ...c.all()]);
  }
}

type Listener = (event: { data: unknown; origin: string; source: unknown }) => void;

export class FakeWindow {
  readonly listeners = new Set<Listener>();
  addEventListener(type: string, listener: Listener): void {
    if (type === 'message') this.listeners.add(listener);
  }
  removeEventListener(type: string, listener: Listener): void {
    if (type === 'message') this.listeners.delete(listener);
  }
  /** Dispatches a `message` event as the browser would, with the data structured-cloned. */
  dispatchMessage(event: { data: unknown; origin: string; source: unknown }): void {
    for (const listener of [...this.listeners]) listener({ ...event, data: structuredClone(event.data) });
  }
}

export class FakeDocument {
  readonly documentElement: FakeElement = new FakeElement('html', () => this.documentElement);
  body: FakeElement | null = new FakeElement('body', () => this.documentElement);

  constructor() {
    if (this.body) this.documentElement.appendChild(this.body);
  }
  createElement(tagName: string): FakeElement {
    return new FakeElement(tagName, () => this.documentElement);
  }
  /** The sdk's iframe, if mounted. */
  frame(): FakeElement | undefined {
    return this.documentElement.all().find((e) => e.tagName === 'iframe');
  }
  overlay(): FakeElement | undefined {
    return this.frame()?.parent ?? undefined;
  }
}

export function fakeEnvironment(): { document: FakeDocument; window: FakeWindow; env: FrameEnvironment } {
  const document = new FakeDocument();
  const window = new FakeWindow();
  return { document, window, env: { document: document as unknown as Document, window: window as unknown as Window } };
}
