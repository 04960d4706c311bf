// Every action a user takes: an EIP-712 signature in the wallet over the
// action's typed data (./protocol), the forwarder call that carries it, and
// the gateway's relay (which pays the gas). The signer's forwarder nonce is
// read before each signature; the gateway answers once the transaction is
// mined, so the next action reads the next nonce. Steps that must not be
// separated (a rotation and the new key sealed to the patient) are all
// signed first, with consecutive nonces, then relayed in order: a declined
// signature then sends none of them.

import { type Address, type Hex, keccak256, toBytes } from 'viem';
import type { Config } from './config';
import type { Gateway, Relayed } from './gateway';
import { type Action, actionTypedData, forwarderAbi, forwarderDomain, relayCalldata } from './protocol';
import type { Wallet } from './wallet';

/** How long a signature stays valid. */
const SIGNATURE_WINDOW_SECS = 3600;

/** Signs actions as the wallet's account and has the gateway relay them. */
export class Actor {
  constructor(
    readonly wallet: Wallet,
    readonly config: Config,
    readonly gateway: Gateway,
    /** Told the block of each relayed action. */
    private readonly onLanded: (block: number) => void = () => {},
  ) {}

  get address(): Address {
    return this.wallet.account;
  }

  /** The account's next forwarder nonce. */
  nonce(): Promise<bigint> {
    return this.wallet.publicClient.readContract({
      address: this.config.forwarder,
      abi: forwarderAbi,
      functionName: 'nonces',
      args: [this.address],
    });
  }

  /** A deadline for a signature made now. */
  static deadline(): bigint {
    return BigInt(Math.floor(Date.now() / 1000) + SIGNATURE_WINDOW_SECS);
  }

  /** Signs `action` in the wallet and has the gateway relay it. */
  async act(action: Action): Promise<Relayed> {
    return this.send(await this.sign(action, await this.nonce()));
  }

  /**
   * Signs every action in the wallet before any is relayed, with
   * consecutive nonces from the account's next one. Relay them in order
   * with {@link sendAll}, each landing before the next is sent, so that each
   * nonce is the forwarder's next one when it arrives.
   */
  async signAll(actions: Action[]): Promise<Hex[]> {
    const first = await this.nonce();
    const signed: Hex[] = [];
    for (const [i, action] of actions.entries()) signed.push(await this.sign(action, first + BigInt(i)));
    return signed;
  }

  /** Relays calls signed by {@link signAll}, in order. */
  async sendAll(signed: Hex[]): Promise<Relayed[]> {
    const relayed: Relayed[] = [];
    for (const calldata of signed) relayed.push(await this.send(calldata));
    return relayed;
  }

  /** The forwarder call of `action`, signed in the wallet with `nonce`. */
  private async sign(action: Action, nonce: bigint): Promise<Hex> {
    const auth = { signer: this.address, nonce, deadline: Actor.deadline() };
    const typed = actionTypedData(forwarderDomain(this.config.chainId, this.config.forwarder), action, auth);
    const signature = await this.wallet.walletClient.signTypedData({ account: this.address, ...typed } as Parameters<Wallet['walletClient']['signTypedData']>[0]);
    return relayCalldata(action, auth, signature);
  }

  /** Relays a signed call (the gateway makes a retry of the same call one transaction). */
  private async send(calldata: Hex): Promise<Relayed> {
    const relayed = await this.gateway.relay(calldata);
    this.onLanded(relayed.blockNumber);
    return relayed;
  }

  register(encryptionKey: Hex): Promise<Relayed> {
    return this.act({ type: 'Register', encryptionKey });
  }

  grant(patient: Address, grantee: Address, readMask: bigint, writeMask: bigint, expiry: number): Promise<Relayed> {
    return this.act({ type: 'Grant', patient, grantee, readMask, writeMask, expiry });
  }

  revoke(patient: Address, grantee: Address): Promise<Relayed> {
    return this.act({ type: 'Revoke', patient, grantee });
  }

  requestAccess(patient: Address, readMask: bigint, writeMask: bigint, duration: number, purpose: string): Promise<Relayed> {
    return this.act({ type: 'RequestAccess', patient, readMask, writeMask, duration, purposeHash: keccak256(toBytes(purpose)) });
  }

  approveRequest(requestId: bigint): Promise<Relayed> {
    return this.act({ type: 'ApproveRequest', requestId });
  }

  denyRequest(requestId: bigint): Promise<Relayed> {
    return this.act({ type: 'DenyRequest', requestId });
  }

  publishCategoryKey(patient: Address, category: number, epoch: number, recipient: Address, sealedKey: Hex): Promise<Relayed> {
    return this.act({ type: 'PublishCategoryKey', patient, category, epoch, recipient, sealedKey });
  }

  rotateCategoryKey(patient: Address, category: number, sealedPreviousKey: Hex): Promise<Relayed> {
    return this.act({ type: 'RotateCategoryKey', patient, category, sealedPreviousKey });
  }

  setGuardian(guardian: Address, powers: number): Promise<Relayed> {
    return this.act({ type: 'SetGuardian', guardian, powers });
  }

  removeGuardian(guardian: Address): Promise<Relayed> {
    return this.act({ type: 'RemoveGuardian', guardian });
  }

  addDevice(device: Address, category: number): Promise<Relayed> {
    return this.act({ type: 'AddDevice', device, category });
  }

  removeDevice(device: Address): Promise<Relayed> {
    return this.act({ type: 'RemoveDevice', device });
  }

  addStaff(staff: Address, role: number, licenceExpiry: number): Promise<Relayed> {
    return this.act({ type: 'AddStaff', staff, role, licenceExpiry });
  }

  removeStaff(staff: Address): Promise<Relayed> {
    return this.act({ type: 'RemoveStaff', staff });
  }
}
