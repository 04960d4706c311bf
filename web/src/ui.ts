// Small DOM helpers: elements, the status line (aria-live), busy buttons.
// No framework: each view builds its section with `h` and redraws itself.

import { describeError } from './errors';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** An element with attributes (`on...` are listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A labelled form field: the label names the input for screen readers. */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: hintId }, hint) : null);
}

/** The page's one status region: polite announcements of progress and errors. */
export const status = {
  element: null as HTMLElement | null,
  show(text: string, kind: 'info' | 'ok' | 'error' = 'info'): void {
    if (!this.element) return;
    this.element.textContent = text;
    this.element.className = `status ${kind}`;
    this.element.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  },
  clear(): void {
    if (this.element) {
      this.element.textContent = '';
      this.element.className = 'status';
    }
  },
};

/**
 * Runs `task` for a button: disabled while it runs (so nothing is sent
 * twice), its progress and outcome in the status region, errors in words.
 */
export async function run(button: HTMLButtonElement | null, busy: string, task: () => Promise<string | void>): Promise<boolean> {
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  status.show(busy);
  try {
    const done = await task();
    status.show(done ?? 'Done.', 'ok');
    return true;
  } catch (error) {
    status.show(describeError(error), 'error');
    return false;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

/** A short address: 0x1234…abcd, with the full one as its title. */
export function addr(address: string): HTMLElement {
  return h('code', { title: address, class: 'addr' }, `${address.slice(0, 6)}…${address.slice(-4)}`);
}

/** A unix time in seconds as a local date and time. */
export function when(seconds: number | string | undefined): string {
  const n = Number(seconds);
  if (!Number.isFinite(n) || n <= 0) return '—';
  return new Date(n * 1000).toLocaleString();
}

/** A byte count as people read it. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A section with a heading, replaced in place by `fill` on each refresh. */
export function section(title: string, id: string): { element: HTMLElement; body: HTMLElement } {
  const body = h('div', { class: 'body' });
  const element = h('section', { 'aria-labelledby': `${id}-h`, id }, h('h2', { id: `${id}-h` }, title), body);
  return { element, body };
}

/** Replaces the children of `element`. */
export function fill(element: HTMLElement, ...children: (Child | Child[])[]): void {
  element.replaceChildren();
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}
