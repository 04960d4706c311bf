// Organisations: every account's read-only list; governance (MedVault's
// owner) adds, suspends and restores them with its own transactions (these
// are not relayed: governance pays its gas).

import { type Address, getAddress } from 'viem';
import type { App } from '../app';
import { medVaultAbi } from '../chain';
import { text } from '../indexer';
import { addr, field, fill, h, run, section } from '../ui';
import { addressOf } from './common';

/** Draws the organisations' view into `into`. */
export async function governanceView(app: App, into: HTMLElement): Promise<void> {
  const orgs = section('Organisations', 'organisations');
  const owner = await app.wallet.publicClient.readContract({ address: app.config.contract, abi: medVaultAbi, functionName: 'owner' });
  const governs = getAddress(owner) === app.account;
  const send = async (functionName: 'addOrganisation' | 'suspendOrganisation' | 'restoreOrganisation', organisation: Address) => {
    const hash = await app.wallet.walletClient.writeContract({
      account: app.account,
      chain: app.wallet.walletClient.chain,
      address: app.config.contract,
      abi: medVaultAbi,
      functionName,
      args: [organisation],
    });
    await app.wallet.publicClient.waitForTransactionReceipt({ hash });
  };
  const draw = async () => {
    const items = await app.indexer.list('/v1/participants', { role: 'organisation' });
    fill(
      orgs.body,
      governs ? h('p', {}, 'You are governance: you add, suspend and restore organisations. You can never read records or change consent.') : h('p', {}, 'Governance (', addr(owner), ') manages this list.'),
      items.length
        ? h(
            'ul',
            { class: 'cards' },
            items.map((o) => {
              const who = getAddress(text(o, 'address'));
              const roles = (o.roles as Record<string, unknown>[] | undefined) ?? [o];
              const state = String(roles.find((r) => r.role === 'organisation')?.status ?? o.status ?? '');
              let action: HTMLButtonElement | null = null;
              if (governs) {
                const suspend = state !== 'suspended';
                const button = h('button', { type: 'button', 'data-action': suspend ? 'suspend' : 'restore', 'data-address': who }, suspend ? 'Suspend' : 'Restore');
                action = button;
                button.addEventListener('click', () => {
                  void run(button, 'Confirm the transaction in your wallet…', async () => {
                    await send(suspend ? 'suspendOrganisation' : 'restoreOrganisation', who);
                    await draw();
                    return `${who} ${suspend ? 'suspended' : 'restored'}.`;
                  });
                });
              }
              return h('li', { class: 'card', 'data-address': who, 'data-status': state }, addr(who), ` · ${state === 'suspended' ? 'suspended' : 'active'} `, action);
            }),
          )
        : h('p', {}, 'No organisations yet.'),
      governs ? addForm : null,
    );
  };
  const who = h('input', { type: 'text', name: 'organisation', placeholder: '0x…', autocomplete: 'off', spellcheck: 'false' });
  const button = h('button', { type: 'submit' }, 'Add organisation');
  const addForm = h('form', { id: 'org-form' }, h('h3', {}, 'Add an organisation'), field('Address', who), button);
  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(button, 'Confirm the transaction in your wallet…', async () => {
      const organisation = addressOf(who, 'organisation address');
      await send('addOrganisation', organisation);
      addForm.reset();
      await draw();
      return `${organisation} added.`;
    });
  });
  into.append(orgs.element);
  await draw();
}
