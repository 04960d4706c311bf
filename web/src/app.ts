// What every view shares once the wallet is connected and signed in: the
// deployment, the wallet, the gateway session, the indexer, the actor that
// signs and relays, the roles the indexer knows for the account, and the
// encryption key (derived on first need, held in memory only).

import { type Address, getAddress } from 'viem';
import { medVaultAbi } from './chain';
import { Actor } from './actions';
import type { Config } from './config';
import type { Gateway } from './gateway';
import { type Indexer, type Item, text } from './indexer';
import { Keys } from './keychain';
import type { Wallet } from './wallet';

/** A signed-in session of the page. */
export class App {
  readonly actor: Actor;
  readonly keys: Keys;
  roles: Item[] = [];
  /** Whether the account is governance (MedVault's owner). */
  governs = false;

  constructor(
    readonly config: Config,
    readonly wallet: Wallet,
    readonly gateway: Gateway,
    readonly indexer: Indexer,
  ) {
    this.actor = new Actor(wallet, config, gateway, (block) => this.landed(block));
    this.keys = new Keys(this);
  }

  get account(): Address {
    return this.wallet.account;
  }

  /** Reads the account's roles from the indexer (none for a newcomer). */
  async loadRoles(): Promise<void> {
    const [item, owner] = await Promise.all([
      this.indexer.item(`/v1/participants/${this.account.toLowerCase()}`),
      this.wallet.publicClient.readContract({ address: this.config.contract, abi: medVaultAbi, functionName: 'owner' }),
    ]);
    this.roles = (item?.roles as Item[] | undefined) ?? [];
    this.governs = getAddress(owner) === this.account;
  }

  /** The newest block one of this session's actions landed in. */
  lastBlock = 0;

  /** Notes the block an action landed in. */
  landed(block: number | bigint): void {
    this.lastBlock = Math.max(this.lastBlock, Number(block));
  }

  /** Waits until the indexer has indexed this session's last action. */
  caughtUp(): Promise<void> {
    return this.indexer.reach(this.lastBlock);
  }

  /** Whether the account holds `role` (patient, staff, organisation, guardian, device). */
  has(role: string): boolean {
    return this.roles.some((r) => text(r, 'role') === role);
  }

  /** The account's role items of one kind. */
  rolesOf(role: string): Item[] {
    return this.roles.filter((r) => text(r, 'role') === role);
  }
}
