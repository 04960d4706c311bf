// The organisation's view: its staff, with their role and licence, added
// and removed by the organisation's signature (relayed).

import { getAddress } from 'viem';
import type { App } from '../app';
import { ROLES } from '../chain';
import { text, num } from '../indexer';
import { addr, field, fill, h, run, section, when } from '../ui';
import { addressOf, daysOf } from './common';

/** Draws the organisation's view into `into`. */
export async function organisationView(app: App, into: HTMLElement): Promise<void> {
  const staff = section('Staff', 'staff');
  const draw = async () => {
    const items = await app.indexer.list('/v1/participants', { role: 'staff', organisation: app.account.toLowerCase() });
    fill(
      staff.body,
      items.length
        ? h(
            'ul',
            { class: 'cards' },
            items.map((s) => {
              const who = getAddress(text(s, 'address'));
              const roles = (s.roles as Record<string, unknown>[] | undefined) ?? [s];
              const role = roles.find((r) => r.role === 'staff') ?? s;
              const remove = h('button', { type: 'button', 'data-action': 'remove', 'data-address': who }, 'Remove');
              remove.addEventListener('click', () => {
                void run(remove, `Sign the removal of ${who}…`, async () => {
                  await app.actor.removeStaff(who);
                  await draw();
                  return `${who} is no longer your staff.`;
                });
              });
              return h('li', { class: 'card' }, addr(who), ` · ${String(role.staffRole ?? 'staff')} · licence until ${when(Number(role.licenceExpiry ?? 0))} `, remove);
            }),
          )
        : h('p', {}, 'No staff yet.'),
      addForm,
    );
  };
  const who = h('input', { type: 'text', name: 'staff', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const role = h('select', { name: 'role' }, ROLES.slice(1).map((r, i) => h('option', { value: String(i + 1) }, r)));
  const days = h('input', { type: 'number', name: 'licence', min: '1', max: '3650', value: '365' });
  const button = h('button', { type: 'submit' }, 'Add staff');
  const addForm = h('form', { id: 'staff-form' }, h('h3', {}, 'Add a staff member'), field('Address', who), field('Role', role), field('Licence valid for (days)', days), button);
  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Sign in your wallet…', async () => {
      const account = addressOf(who, 'staff address');
      const expiry = Math.floor(Date.now() / 1000) + daysOf(days) * 86400;
      await app.actor.addStaff(account, Number(role.value), expiry);
      addForm.reset();
      await draw();
      return `${account} added as ${ROLES[Number(role.value)]}.`;
    });
  });
  into.append(staff.element);
  await draw();
  void num;
}
