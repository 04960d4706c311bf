// The patient's view: registration, upload, records, requests, grants,
// guardians and devices, the audit trail. Every change is a signature the
// gateway relays. An approval, a grant or a revocation takes several: what
// one left undone is found from the chain on each load and shown as
// "Unfinished steps", with one button that finishes it.

import { type Address, getAddress } from 'viem';
import type { App } from '../app';
import { categoryName, maskCategories, maskNames, maskOf, medVaultAbi } from '../chain';
import { UserError, describeError, isRejection } from '../errors';
import { type Item, num, text } from '../indexer';
import { describeStep, unfinishedSteps } from '../keychain';
import { uploadRecord } from '../records';
import { addr, field, fill, h, run, section, size, status, when } from '../ui';
import { addressOf, categoryChecks, categorySelect, daysOf, describeEvent, recordTable, shortId } from './common';

/** Draws the patient's view into `into`. */
export async function patientView(app: App, into: HTMLElement): Promise<void> {
  const registered = await app.wallet.publicClient.readContract({
    address: app.config.contract,
    abi: medVaultAbi,
    functionName: 'isPatient',
    args: [app.account],
  });
  if (!registered) {
    into.append(registration(app, into));
    return;
  }
  const viewerSlot = h('div', { class: 'viewer-slot', 'aria-live': 'polite' });
  const unfinished = section('Unfinished steps', 'unfinished');
  const records = section('Records', 'records');
  const requests = section('Access requests', 'requests');
  const grants = section('Who can read what', 'grants');
  const people = section('Guardians and devices', 'people');
  const audit = section('Audit trail', 'audit');
  const me = app.account.toLowerCase();

  const drawRecords = async () => {
    const items = await app.indexer.list(`/v1/patients/${me}/records`);
    fill(records.body, recordTable(app, items.reverse(), { verify: true, purpose: 'patient', viewerSlot }), viewerSlot);
  };
  const drawUnfinished = async () => {
    const facts = await app.keys.facts(app.account);
    const steps = unfinishedSteps(facts);
    unfinished.element.hidden = steps.length === 0;
    if (!steps.length) return fill(unfinished.body);
    const finish = h('button', { type: 'button', 'data-action': 'finish' }, 'Finish');
    finish.addEventListener('click', () => {
      void run(finish, 'Finishing: sign each step in your wallet…', async () => {
        await app.keys.finish(facts, steps, (step) => status.show(`${stepBusy(step)}: sign in your wallet…`));
        await refresh();
        return 'Finished: every grantee holds the keys they may read, and nobody else holds a current key.';
      });
    });
    fill(
      unfinished.body,
      h('p', {}, 'An earlier action stopped before all its signatures were sent. This is what is left:'),
      h('ul', {}, steps.map((step) => h('li', { 'data-step': step.kind, 'data-category': step.category }, describeStep(step)))),
      h('p', { class: 'actions' }, finish),
    );
  };
  const drawRequests = async () => {
    const items = (await app.indexer.list(`/v1/patients/${me}/requests`)).reverse();
    fill(requests.body, items.length ? h('ul', { class: 'cards' }, items.map((r) => requestCard(app, r, refresh))) : h('p', {}, 'No requests.'));
  };
  const drawGrants = async () => {
    const items = await app.indexer.list(`/v1/patients/${me}/grants`);
    fill(grants.body, grantList(app, items, refresh), grantForm(app, refresh));
  };
  const drawPeople = async () => {
    const [guardians, devices] = await Promise.all([
      app.indexer.list('/v1/participants', { role: 'guardian', patient: me }),
      app.indexer.list('/v1/participants', { role: 'device', patient: me }),
    ]);
    fill(people.body, peopleList(app, guardians, devices, refresh), guardianForm(app, refresh), deviceForm(app, refresh));
  };
  const drawAudit = async () => {
    const items = (await app.indexer.list(`/v1/patients/${me}/audit`)).reverse();
    let reads: Item[] = [];
    let anchoredUpTo = -1;
    try {
      const log = await app.gateway.accessLog();
      reads = (log.entries as Item[]) ?? [];
      for (const anchor of (log.anchors as Item[] | undefined) ?? []) anchoredUpTo = Math.max(anchoredUpTo, num(anchor, 'sequence'));
    } catch {
      /* the gateway's log is extra; the chain's events are shown anyway */
    }
    fill(
      audit.body,
      h('h3', {}, 'Reads of your records (the gateway’s access log)'),
      reads.length
        ? h(
            'ol',
            { class: 'timeline', id: 'reads' },
            reads.reverse().map((e) =>
              h(
                'li',
                {},
                h('time', {}, when(num(e, 'at'))),
                ` record ${shortId(text(e, 'record_id'))} read by `,
                addr(text(e, 'reader')),
                ` for “${text(e, 'purpose') || 'no purpose given'}”`,
                num(e, 'sequence') <= anchoredUpTo ? ' · anchored on chain' : ' · not anchored yet',
              ),
            ),
          )
        : h('p', {}, 'No reads yet.'),
      h('h3', {}, 'Consent and key events on chain'),
      items.length
        ? h(
            'ol',
            { class: 'timeline' },
            items.map((e) => h('li', {}, h('time', {}, when((e.at as Item | undefined)?.blockTime as number)), ' ', describeEvent(e))),
          )
        : h('p', {}, 'Nothing yet.'),
    );
  };
  const refresh = async () => {
    await app.caughtUp();
    await Promise.all([drawUnfinished(), drawRecords(), drawRequests(), drawGrants(), drawPeople(), drawAudit()]);
  };
  unfinished.element.hidden = true;
  unfinished.element.classList.add('unfinished');
  into.append(unfinished.element, uploadForm(app, refresh), records.element, requests.element, grants.element, people.element, audit.element);
  await refresh();
}

/** Registration: derive the encryption key from a signature and register it. */
function registration(app: App, into: HTMLElement): HTMLElement {
  const button = h('button', { type: 'button', id: 'register' }, 'Register as a patient');
  button.addEventListener('click', () => {
    void run(button, 'Sign the encryption-key message in your wallet…', async () => {
      const key = await app.keys.encryptionKey();
      status.show('Sign the registration in your wallet…');
      await app.actor.register(key.publicKeyHex);
      await app.loadRoles().catch(() => undefined);
      into.replaceChildren();
      await patientView(app, into);
      return 'Registered. Your encryption key is on chain; its secret never left this page.';
    });
  });
  return h(
    'section',
    { id: 'registration', 'aria-labelledby': 'registration-h' },
    h('h2', { id: 'registration-h' }, 'Register'),
    h('p', {}, 'Your wallet signs a fixed message; this page derives your encryption key from that signature and registers its public half on chain. The same wallet always gives the same key.'),
    button,
  );
}

/** The upload form: a file, a category, a progress bar. */
function uploadForm(app: App, refresh: () => Promise<void>): HTMLElement {
  const file = h('input', { type: 'file', name: 'file', required: true });
  const category = categorySelect('category');
  category.value = '2';
  const progress = h('progress', { max: 100, value: 0, id: 'upload-progress', 'aria-label': 'Upload progress' });
  const progressText = h('span', { id: 'upload-progress-text' });
  const button = h('button', { type: 'submit' }, 'Encrypt and upload');
  const form = h(
    'form',
    { id: 'upload' },
    field('File (any kind: PDF, image, DICOM, …)', file),
    field('Category', category),
    button,
    h('div', { class: 'progress' }, progress, ' ', progressText),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Preparing the upload…', async () => {
      const chosen = file.files?.[0];
      if (!chosen) throw new UserError('Choose a file first.');
      const cat = Number(category.value);
      const result = await uploadRecord(app, app.account, cat, chosen, (step, done, total) => {
        const pct = total ? Math.round((100 * done) / total) : 0;
        const words = { uploading: 'Encrypting here and uploading', signing: 'Sign the record in your wallet', committing: 'Recording on chain' }[step];
        progress.value = step === 'uploading' ? pct : 100;
        progressText.textContent = step === 'signing' || step === 'committing' ? `${words}…` : `${words}: ${size(done)} of ${size(total)}`;
        if (step === 'signing' || step === 'committing') status.show(`${words}…`);
      });
      form.reset();
      category.value = String(cat);
      progressText.textContent = '';
      progress.value = 0;
      await refresh();
      return `Uploaded record ${result.recordId} (${categoryName(cat)}), CID ${result.cid}.`;
    });
  });
  return h('section', { 'aria-labelledby': 'upload-h', id: 'upload-section' }, h('h2', { id: 'upload-h' }, 'Add a record'), form);
}

/** A request with approve and deny buttons while it is pending. */
function requestCard(app: App, r: Item, refresh: () => Promise<void>): HTMLElement {
  const id = text(r, 'id');
  const staff = getAddress(text(r, 'staff'));
  const state = text(r, 'status');
  const approve = h('button', { type: 'button', 'data-action': 'approve', 'data-request': id }, 'Approve');
  const deny = h('button', { type: 'button', 'data-action': 'deny', 'data-request': id }, 'Deny');
  approve.addEventListener('click', () => {
    void run(approve, `Sign the approval of request ${id}…`, async () => {
      await app.actor.approveRequest(BigInt(id));
      await thenShare(app, staff, text(r, 'readMask') || '0', `Approved request ${id}`, refresh);
      return `Approved request ${id}: ${staff} can read ${maskNames(text(r, 'readMask') || '0')}.`;
    });
  });
  deny.addEventListener('click', () => {
    void run(deny, `Sign the denial of request ${id}…`, async () => {
      await app.actor.denyRequest(BigInt(id));
      await refresh();
      return `Denied request ${id}.`;
    });
  });
  const days = Math.round(num(r, 'duration') / 86400);
  return h(
    'li',
    { class: 'card', 'data-request': id, 'data-status': state },
    h('p', {}, h('strong', {}, `Request ${id}`), ` · ${state}`),
    h('p', {}, 'From ', addr(staff), ` · read ${maskNames(text(r, 'readMask') || '0')} · write ${maskNames(text(r, 'writeMask') || '0')} · for ${days} day${days === 1 ? '' : 's'}`),
    state === 'pending' ? h('p', { class: 'actions' }, approve, ' ', deny) : null,
  );
}

/** The category grants, with a revoke button on the live ones. */
function grantList(app: App, grants: Item[], refresh: () => Promise<void>): HTMLElement {
  if (!grants.length) return h('p', {}, 'Nobody has been granted access.');
  return h(
    'ul',
    { class: 'cards' },
    grants.map((g) => {
      const grantee = getAddress(text(g, 'grantee'));
      const state = text(g, 'status');
      const revoke = h('button', { type: 'button', 'data-action': 'revoke', 'data-grantee': grantee }, 'Revoke');
      revoke.addEventListener('click', () => {
        void run(revoke, `Sign the revocation for ${grantee}…`, async () => {
          await app.actor.revoke(app.account, grantee);
          await thenRotate(app, `Revoked ${grantee}`, refresh);
          return `Revoked ${grantee}; the categories they could read have new keys.`;
        });
      });
      return h(
        'li',
        { class: 'card', 'data-grantee': grantee, 'data-status': state },
        h('p', {}, addr(grantee), ` · ${state}`),
        state === 'revoked' ? null : h('p', {}, `Read ${maskNames(text(g, 'readMask') || '0')} · write ${maskNames(text(g, 'writeMask') || '0')} · until ${when(num(g, 'expiry'))}`),
        state === 'live' ? h('p', { class: 'actions' }, revoke) : null,
      );
    }),
  );
}

/**
 * The keys a grant or an approval owes `grantee`, sealed to them (keys made
 * for categories that have none; `all` shares the categories that have
 * records, as the CLI does). The grant itself has landed: a failure here
 * says so, and the "Unfinished steps" card offers the rest.
 */
async function thenShare(app: App, grantee: Address, readMask: string, done: string, refresh: () => Promise<void>): Promise<void> {
  status.show('Sharing the category keys: sign each in your wallet…');
  try {
    let categories = maskCategories(readMask);
    if (categories.length === 64) {
      const records = await app.indexer.list(`/v1/patients/${app.account.toLowerCase()}/records`);
      categories = [...new Set(records.map((x) => num(x, 'category')))];
    }
    await app.caughtUp();
    await app.keys.share(app.account, grantee, categories, (step) => status.show(`${stepBusy(step)}: sign in your wallet…`));
  } catch (error) {
    throw await halfDone(error, `${done}, but the keys were not all sealed to ${grantee}: they cannot open those records yet.`, refresh);
  }
  await refresh();
}

/**
 * After a revocation: every category whose current key someone no longer
 * entitled holds moves to a new epoch. A failure says what landed and what
 * did not.
 */
async function thenRotate(app: App, done: string, refresh: () => Promise<void>): Promise<void> {
  try {
    await app.caughtUp();
    await app.keys.rotateStale(app.account, (step) => status.show(`${stepBusy(step)}: sign in your wallet…`));
  } catch (error) {
    throw await halfDone(error, `${done}, but the keys they held were not all replaced: they could still open records added later.`, refresh);
  }
  await refresh();
}

/** The error of an action whose first signature landed and whose rest did not, in words; the view redrawn to show what is left. */
async function halfDone(error: unknown, landed: string, refresh: () => Promise<void>): Promise<UserError> {
  await refresh().catch(() => undefined);
  const why = isRejection(error) ? 'You declined a signature in your wallet.' : describeError(error);
  return new UserError(`${landed} ${why} “Unfinished steps” above lists what is left; press Finish there to complete it.`);
}

/** What the page is doing for a step, for the status line. */
function stepBusy(step: { kind: string; category: number }): string {
  switch (step.kind) {
    case 'rotate':
      return `Moving ${categoryName(step.category)} to a new key`;
    case 'share':
      return `Sealing the key of ${categoryName(step.category)} to a grantee`;
    default:
      return `Sealing the new key of ${categoryName(step.category)} to you`;
  }
}

/** The grant form: who, which categories, read or write, for how long. */
function grantForm(app: App, refresh: () => Promise<void>): HTMLElement {
  const grantee = h('input', { type: 'text', name: 'grantee', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const cats = categoryChecks('Categories', 'grant-cat');
  const write = h('input', { type: 'checkbox', name: 'write', id: 'grant-write' });
  const days = h('input', { type: 'number', name: 'days', min: '1', max: '3650', value: '30' });
  const button = h('button', { type: 'submit' }, 'Grant');
  const form = h(
    'form',
    { id: 'grant' },
    h('h3', {}, 'Grant access'),
    field('Staff address', grantee),
    cats.element,
    h('label', { for: 'grant-write', class: 'check' }, write, ' may also add records'),
    field('For (days)', days),
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Sign the grant in your wallet…', async () => {
      const who = addressOf(grantee, 'staff address');
      const categories = cats.checked();
      if (!categories.length) throw new UserError('Choose at least one category.');
      const mask = maskOf(categories);
      const expiry = Math.floor(Date.now() / 1000) + daysOf(days) * 86400;
      await app.actor.grant(app.account, who, mask, write.checked ? mask : 0n, expiry);
      form.reset();
      await thenShare(app, who, mask.toString(), `Granted ${who} ${maskNames(mask)}`, refresh);
      return `Granted ${who} ${maskNames(mask)} until ${when(expiry)}.`;
    });
  });
  return form;
}

function peopleList(app: App, guardians: Item[], devices: Item[], refresh: () => Promise<void>): HTMLElement {
  const remove = (label: string, who: Address, action: () => Promise<unknown>) => {
    const button = h('button', { type: 'button', 'data-action': 'remove', 'data-address': who }, `Remove`);
    button.addEventListener('click', () => {
      void run(button, `Sign the removal of ${label} ${who}…`, async () => {
        await action();
        await refresh();
        return `Removed ${label} ${who}.`;
      });
    });
    return button;
  };
  const powers = (p: number) => [p & 1 ? 'manage consent' : '', p & 2 ? 'read' : ''].filter(Boolean).join(' and ') || 'no powers';
  return h(
    'ul',
    { class: 'cards' },
    guardians.map((g) => {
      const who = getAddress(text(g, 'address'));
      return h('li', { class: 'card' }, 'Guardian ', addr(who), ` · ${powers(num(g, 'powers'))} `, remove('guardian', who, () => app.actor.removeGuardian(who)));
    }),
    devices.map((d) => {
      const who = getAddress(text(d, 'address'));
      return h('li', { class: 'card' }, 'Device ', addr(who), ` · writes ${categoryName(num(d, 'category'))} `, remove('device', who, () => app.actor.removeDevice(who)));
    }),
    !guardians.length && !devices.length ? h('li', {}, 'No guardians or devices.') : null,
  );
}

function guardianForm(app: App, refresh: () => Promise<void>): HTMLElement {
  const who = h('input', { type: 'text', name: 'guardian', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const manage = h('input', { type: 'checkbox', id: 'g-manage', checked: true });
  const read = h('input', { type: 'checkbox', id: 'g-read', checked: true });
  const button = h('button', { type: 'submit' }, 'Add guardian');
  const form = h(
    'form',
    { id: 'guardian' },
    h('h3', {}, 'Name a guardian'),
    field('Guardian address', who),
    h('label', { for: 'g-manage', class: 'check' }, manage, ' may manage consent'),
    h('label', { for: 'g-read', class: 'check' }, read, ' may read'),
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Sign in your wallet…', async () => {
      const guardian = addressOf(who, 'guardian address');
      const powers = (manage.checked ? 1 : 0) | (read.checked ? 2 : 0);
      if (!powers) throw new UserError('A guardian needs at least one power.');
      await app.actor.setGuardian(guardian, powers);
      form.reset();
      await refresh();
      return `${guardian} is your guardian.`;
    });
  });
  return form;
}

function deviceForm(app: App, refresh: () => Promise<void>): HTMLElement {
  const who = h('input', { type: 'text', name: 'device', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const category = categorySelect('device-category');
  category.value = '1';
  const button = h('button', { type: 'submit' }, 'Add device');
  const form = h('form', { id: 'device' }, h('h3', {}, 'Register a device'), field('Device address', who), field('It writes', category), button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Sign in your wallet…', async () => {
      const device = addressOf(who, 'device address');
      await app.actor.addDevice(device, Number(category.value));
      form.reset();
      await refresh();
      return `${device} may add ${categoryName(Number(category.value))} records.`;
    });
  });
  return form;
}
