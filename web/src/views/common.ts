// Pieces several views share: the category picker, a record's row with its
// open and verify buttons, the opened record's viewer, the audit timeline.

import { type Address, getAddress, hexToBytes, isAddress } from 'viem';
import { cidText } from '../protocol';
import type { App } from '../app';
import { CATEGORY_NAMES, categoryName } from '../chain';
import { UserError } from '../errors';
import { type Item, num, text } from '../indexer';
import { openRecord, verifyRecord } from '../records';
import { addr, h, run, size, status, when } from '../ui';

/** A select of the named categories. */
export function categorySelect(name: string): HTMLSelectElement {
  const select = h('select', { name });
  for (const [value, label] of Object.entries(CATEGORY_NAMES)) {
    select.append(h('option', { value }, `${label} (${value})`));
  }
  return select;
}

/** A fieldset of category checkboxes; `checked()` gives the chosen ones. */
export function categoryChecks(legend: string, name: string): { element: HTMLFieldSetElement; checked: () => number[] } {
  const boxes = Object.entries(CATEGORY_NAMES).map(([value, label]) => {
    const input = h('input', { type: 'checkbox', name, value, id: `${name}-${value}` });
    return { input, element: h('label', { for: `${name}-${value}`, class: 'check' }, input, ` ${label}`) };
  });
  const element = h('fieldset', { class: 'checks' }, h('legend', {}, legend), boxes.map((b) => b.element));
  return { element, checked: () => boxes.filter((b) => b.input.checked).map((b) => Number(b.input.value)) };
}

/** A checked address from a text input, or a sentence. */
export function addressOf(input: HTMLInputElement, what: string): Address {
  const value = input.value.trim();
  if (!isAddress(value, { strict: false })) throw new UserError(`The ${what} must be 0x and 40 hex digits.`);
  return getAddress(value);
}

/** A positive whole number of days from an input. */
export function daysOf(input: HTMLInputElement): number {
  const days = Number(input.value);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UserError('Give a whole number of days between 1 and 3650.');
  return days;
}

/** The object URL of the record shown last, released when another is shown. */
let shownUrl: string | null = null;

/** The viewer of an opened record: shown inline when it is an image, a PDF or text, and always savable. */
export function viewer(recordId: string, opened: Awaited<ReturnType<typeof openRecord>>): HTMLElement {
  if (shownUrl) URL.revokeObjectURL(shownUrl);
  const url = URL.createObjectURL(opened.blob);
  shownUrl = url;
  const ext = { image: opened.mime === 'image/png' ? 'png' : 'jpg', pdf: 'pdf', text: 'txt', binary: 'bin' }[opened.kind];
  const save = h('a', { href: url, download: `record-${recordId}.${ext}`, class: 'button', 'data-testid': 'save' }, `Save (${size(opened.blob.size)})`);
  let shown: HTMLElement | null = null;
  if (opened.kind === 'image') shown = h('img', { src: url, alt: `Record ${recordId}` });
  else if (opened.kind === 'pdf') shown = h('iframe', { src: url, title: `Record ${recordId}` });
  else if (opened.kind === 'text') {
    shown = h('pre', { tabindex: '0' }, '…');
    void opened.blob.text().then((t) => {
      if (shown) shown.textContent = t.length > 100_000 ? `${t.slice(0, 100_000)}…` : t;
    });
  }
  return h('div', { class: 'viewer', 'data-record': recordId, 'data-size': opened.blob.size }, h('h3', { title: recordId }, `Record ${shortId(recordId)}`), shown, save);
}

/** A table of records with open (and, for the patient, verify) buttons. */
export function recordTable(app: App, records: Item[], opts: { verify: boolean; purpose: string; viewerSlot: HTMLElement }): HTMLElement {
  if (!records.length) return h('p', {}, 'No records.');
  const rows = records.map((r) => {
    const id = text(r, 'id');
    const cid = cidOf(text(r, 'cid'));
    const sha = text(r, 'ciphertextHash') || text(r, 'sha256');
    const openButton = h('button', { type: 'button', 'data-action': 'open', 'data-record': id }, 'Open');
    openButton.addEventListener('click', () => {
      void run(openButton, `Downloading and decrypting record ${id}…`, async () => {
        const opened = await openRecord(app, id, opts.purpose, (done, total) => {
          if (total) status.show(`Decrypting record ${id}: ${Math.round((100 * done) / total)}%`);
        });
        opts.viewerSlot.replaceChildren(viewer(id, opened));
        return `Record ${id} decrypted here (${size(opened.blob.size)}); its hash matches the chain's.`;
      });
    });
    let verifyButton: HTMLButtonElement | null = null;
    if (opts.verify) {
      const button = h('button', { type: 'button', 'data-action': 'verify', 'data-record': id }, 'Verify');
      verifyButton = button;
      button.addEventListener('click', () => {
        void run(button, `Checking record ${id} against the chain…`, async () => {
          const { ok, sha256 } = await verifyRecord(app, id, cid);
          if (!ok) throw new UserError(`Record ${id} does not verify: what IPFS serves hashes to ${sha256}, not the hash on chain.`);
          button.textContent = 'Verified ✓';
          return `Record ${id} verified: the ciphertext IPFS serves has the hash and CID on chain.`;
        });
      });
    }
    return h(
      'tr',
      { 'data-record': id },
      h('td', {}, h('span', { title: id }, shortId(id))),
      h('td', {}, categoryName(num(r, 'category'))),
      h('td', {}, when((r.added as Item | undefined)?.blockTime as number | undefined)),
      h('td', {}, h('code', { title: cid, class: 'cid' }, cid.length > 20 ? `${cid.slice(0, 12)}…${cid.slice(-6)}` : cid)),
      h('td', {}, h('code', { title: sha, class: 'hash' }, sha ? `${sha.slice(0, 10)}…` : '—')),
      h('td', {}, r.author ? addr(text(r, 'author')) : '—'),
      h('td', { class: 'actions' }, openButton, verifyButton ? ' ' : null, verifyButton),
    );
  });
  return h(
    'table',
    {},
    h('caption', { class: 'sr-only' }, 'Records'),
    h('thead', {}, h('tr', {}, ['Record', 'Category', 'Added', 'CID', 'SHA-256', 'Author', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows),
  );
}

/** A CID as Kubo prints it (`bafk…`), from the chain's binary form in hex. */
export function cidOf(cid: string): string {
  if (!cid.startsWith('0x')) return cid;
  try {
    return cidText(hexToBytes(cid as `0x${string}`));
  } catch {
    return cid;
  }
}

/** A uint256 id as people read it: decimal, shortened when long (the full id in the list's data). */
export function shortId(id: string): string {
  let decimal = id;
  try {
    decimal = BigInt(id).toString();
  } catch {
    /* shown as given */
  }
  return decimal.length > 12 ? `${decimal.slice(0, 6)}…${decimal.slice(-4)}` : decimal;
}

/** A one-line description of an audit or stream event. */
export function describeEvent(item: Item): string {
  const name = text(item, 'event') || text(item, 'name') || 'event';
  const data = (item.data ?? item) as Item;
  const bits: string[] = [];
  for (const field of ['staff', 'grantee', 'recipient', 'author', 'guardian', 'device', 'recordId', 'requestId', 'category', 'epoch', 'severity', 'caseId']) {
    const v = data[field];
    if (v === undefined || v === null || v === '') continue;
    const value = String(v);
    if (/^0x[0-9a-fA-F]{40}$/.test(value)) bits.push(`${field} ${value.slice(0, 6)}…${value.slice(-4)}`);
    else if (field.endsWith('Id')) bits.push(`${field.slice(0, -2)} ${shortId(value)}`);
    else if (field === 'category') bits.push(categoryName(Number(value)));
    else bits.push(`${field} ${value}`);
  }
  return bits.length ? `${name}: ${bits.join(', ')}` : name;
}
