// The staff member's view (a doctor): the patients who granted access and
// its scope, their records in scope (opened and decrypted here), access
// requests, and alerts arriving live from the indexer's stream. A grant,
// a revocation or an answered request arriving on the stream, or a grant
// reaching its expiry, redraws the patients and the records listed.

import { type Address, getAddress } from 'viem';
import type { App } from '../app';
import { maskCategories, maskNames, maskOf } from '../chain';
import { UserError } from '../errors';
import { type Item, num, text } from '../indexer';
import { same } from '../records';
import { addr, field, fill, h, run, section, when } from '../ui';
import { addressOf, categoryChecks, daysOf, describeEvent, recordTable } from './common';

/** The stream's events that change what the staff member may read: each redraws the patients and records. */
const CONSENT_EVENTS = new Set(['Granted', 'Revoked', 'RequestApproved', 'RequestDenied']);

/** The longest a timer may wait (setTimeout's limit, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The live stream of the signed-in staff member, and what its events redraw. */
let live: { account: string; feed: HTMLElement; state: HTMLElement; close: () => void; onChange: () => Promise<void> } | null = null;

/** Closes the live stream (on sign-out). */
export function closeLive(): void {
  live?.close();
  live = null;
}

/** Draws the staff view into `into`. */
export async function staffView(app: App, into: HTMLElement): Promise<void> {
  const me = app.account.toLowerCase();
  const patients = section('Patients who granted you access', 'patients');
  const request = section('Request access', 'request');
  const mine = section('Your requests', 'my-requests');
  const alerts = section('Live alerts and consent changes', 'alerts');
  const viewerSlot = h('div', { class: 'viewer-slot', 'aria-live': 'polite' });
  const recordsSlot = h('div', { id: 'patient-records' });

  // The patient whose records are listed, redrawn (or taken away) whenever the grants change.
  let shown: Address | null = null;
  let expiryTimer: ReturnType<typeof setTimeout> | undefined;
  const drawRecords = async (patient: Address, grant: Item) => {
    const scope = new Set(maskCategories(text(grant, 'readMask') || '0'));
    const records = (await app.indexer.list(`/v1/patients/${patient.toLowerCase()}/records`)).filter((r) => scope.has(num(r, 'category')));
    shown = patient;
    fill(recordsSlot, h('h3', {}, 'Records of ', addr(patient), ' in your scope'), recordTable(app, records.reverse(), { verify: false, purpose: 'treatment', viewerSlot }), viewerSlot);
    return records.length;
  };
  const drawPatients = async () => {
    const now = Date.now() / 1000;
    // The indexer reckons expiry at its head's time; a quiet chain's head lags the clock.
    const grants = (await app.indexer.list(`/v1/grantees/${me}/grants`)).filter((g) => text(g, 'status') === 'live' && num(g, 'expiry') > now);
    clearTimeout(expiryTimer);
    const soonest = Math.min(...grants.map((g) => num(g, 'expiry')));
    if (Number.isFinite(soonest)) {
      expiryTimer = setTimeout(() => void live?.onChange(), Math.min(MAX_TIMER_MS, Math.max(0, (soonest - now) * 1000) + 1000));
    }
    const current = shown && grants.find((g) => same(text(g, 'patient'), shown as Address));
    if (shown && current) {
      await drawRecords(shown, current);
    } else if (shown) {
      fill(recordsSlot, h('p', { class: 'ended', role: 'status' }, 'Your access to the records of ', addr(shown), ' has ended (revoked or expired), so they are no longer listed.'));
      shown = null;
    }
    fill(
      patients.body,
      grants.length
        ? h(
            'ul',
            { class: 'cards' },
            grants.map((g) => {
              const patient = getAddress(text(g, 'patient'));
              const show = h('button', { type: 'button', 'data-action': 'records', 'data-patient': patient }, 'Show records');
              show.addEventListener('click', () => {
                void run(show, 'Loading the records in scope…', async () => {
                  const count = await drawRecords(patient, g);
                  return `${count} record${count === 1 ? '' : 's'} in scope.`;
                });
              });
              return h(
                'li',
                { class: 'card', 'data-patient': patient },
                h('p', {}, 'Patient ', addr(patient)),
                h('p', {}, `Read ${maskNames(text(g, 'readMask') || '0')} · write ${maskNames(text(g, 'writeMask') || '0')} · until ${when(num(g, 'expiry'))}`),
                h('p', { class: 'actions' }, show),
              );
            }),
          )
        : h('p', {}, 'No patient has granted you access yet.'),
      recordsSlot,
    );
  };
  const drawMine = async () => {
    const items = (await app.indexer.list(`/v1/staff/${me}/requests`)).reverse();
    fill(
      mine.body,
      items.length
        ? h(
            'ul',
            { class: 'cards' },
            items.map((r) => h('li', { class: 'card', 'data-request': text(r, 'id'), 'data-status': text(r, 'status') }, `Request ${text(r, 'id')} to `, addr(text(r, 'patient')), ` · ${maskNames(text(r, 'readMask') || '0')} · ${text(r, 'status')}`)),
          )
        : h('p', {}, 'No requests yet.'),
    );
  };
  const refresh = async () => {
    await app.caughtUp();
    await Promise.all([drawPatients(), drawMine()]);
  };

  // The request form.
  const patient = h('input', { type: 'text', name: 'patient', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const cats = categoryChecks('Categories', 'req-cat');
  const days = h('input', { type: 'number', name: 'days', min: '1', max: '3650', value: '30' });
  const purpose = h('input', { type: 'text', name: 'purpose', value: 'treatment', maxlength: '64' });
  const button = h('button', { type: 'submit' }, 'Request access');
  const form = h('form', { id: 'request-form' }, field('Patient address', patient), cats.element, field('For (days)', days), field('Purpose', purpose, 'Only its hash goes on chain.'), button);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Sign the request in your wallet…', async () => {
      const who = addressOf(patient, 'patient address');
      const categories = cats.checked();
      if (!categories.length) throw new UserError('Choose at least one category.');
      await app.actor.requestAccess(who, maskOf(categories), 0n, daysOf(days) * 86400, purpose.value.trim());
      await refresh();
      return `Requested ${maskNames(maskOf(categories))} from ${who}. The patient sees it now.`;
    });
  });
  fill(request.body, form);

  // Alerts and consent changes, live: one stream per signed-in account, kept across redraws.
  if (!live || live.account !== app.account) {
    live?.close();
    const feed = h('ol', { class: 'timeline', id: 'alert-feed', 'aria-live': 'polite' });
    const state = h('p', { class: 'stream-state' }, 'Connecting to the live stream…');
    const close = app.indexer.stream(
      { grantee: app.account },
      (type, data) => {
        if (type === 'rollback') {
          feed.prepend(h('li', {}, 'The chain reorganised; recent events may be replaced.'));
          void live?.onChange();
          return;
        }
        const item: Item = { ...data, event: type };
        feed.prepend(h('li', { 'data-event': type }, h('time', {}, when((data.at as Item | undefined)?.blockTime as number)), ' ', describeEvent(item)));
        if (CONSENT_EVENTS.has(type)) void live?.onChange();
      },
      (open) => {
        state.textContent = open ? 'Live: new events appear here.' : 'The live stream dropped; reconnecting…';
      },
    );
    live = { account: app.account, feed, state, close, onChange: refresh };
  }
  live.onChange = refresh;
  fill(alerts.body, live.state, live.feed);

  into.append(patients.element, request.element, mine.element, alerts.element);
  await refresh();
}
