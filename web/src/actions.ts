// Every action a user takes: an EIP-712 signature in the wallet, the
// forwarder call built here, relayed by the gateway (which pays the gas).
// The signer's forwarder nonce is read before each signature; the gateway
// answers once the transaction is mined, so the next action reads the next
// nonce.

import { type Address, type Hex, encodeFunctionData, keccak256, toBytes } from 'viem';
import { forwarderAbi } from './chain';
import type { Config } from './config';
import type { Gateway, Relayed } from './gateway';
import { type Action, actionTypedData, forwarderDomain } from './protocol';
import type { Wallet } from './wallet';

/** How long a signature stays valid. */
const SIGNATURE_WINDOW_SECS = 3600;

/** Signs actions as the wallet's account and has the gateway relay them. */
export class Actor {
  constructor(
    readonly wallet: Wallet,
    readonly config: Config,
    readonly gateway: Gateway,
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

  /** Signs `primaryType` with `fields` and relays `functionName(args..., auth)`. */
  private async act(primaryType: Action['type'], fields: Record<string, unknown>, functionName: string, args: unknown[]): Promise<Relayed> {
    const nonce = await this.nonce();
    const deadline = Actor.deadline();
    const domain = forwarderDomain(this.config.chainId, this.config.forwarder);
    const action = { type: primaryType, ...fields } as Action;
    const typed = actionTypedData(domain, action, { signer: this.address, nonce, deadline });
    const signature = await this.wallet.walletClient.signTypedData({ account: this.address, ...typed } as Parameters<Wallet['walletClient']['signTypedData']>[0]);
    const auth = { signer: this.address, deadline, signature };
    const calldata = encodeFunctionData({
      abi: forwarderAbi,
      functionName: functionName as 'registerBySig',
      args: [...args, auth] as never,
    });
    return this.gateway.relay(calldata);
  }

  register(encryptionKey: Hex): Promise<Relayed> {
    return this.act('Register', { encryptionKey }, 'registerBySig', [encryptionKey]);
  }

  setEncryptionKey(encryptionKey: Hex): Promise<Relayed> {
    return this.act('SetEncryptionKey', { encryptionKey }, 'setEncryptionKeyBySig', [encryptionKey]);
  }

  grant(patient: Address, grantee: Address, readMask: bigint, writeMask: bigint, expiry: number): Promise<Relayed> {
    return this.act('Grant', { patient, grantee, readMask, writeMask, expiry }, 'grantBySig', [patient, grantee, readMask, writeMask, expiry]);
  }

  revoke(patient: Address, grantee: Address): Promise<Relayed> {
    return this.act('Revoke', { patient, grantee }, 'revokeBySig', [patient, grantee]);
  }

  requestAccess(patient: Address, readMask: bigint, writeMask: bigint, duration: number, purpose: string): Promise<Relayed> {
    const purposeHash = keccak256(toBytes(purpose));
    return this.act('RequestAccess', { patient, readMask, writeMask, duration, purposeHash }, 'requestAccessBySig', [
      patient,
      readMask,
      writeMask,
      duration,
      purposeHash,
    ]);
  }

  approveRequest(requestId: bigint): Promise<Relayed> {
    return this.act('ApproveRequest', { requestId }, 'approveRequestBySig', [requestId]);
  }

  denyRequest(requestId: bigint): Promise<Relayed> {
    return this.act('DenyRequest', { requestId }, 'denyRequestBySig', [requestId]);
  }

  publishCategoryKey(patient: Address, category: number, epoch: number, recipient: Address, sealedKey: Hex): Promise<Relayed> {
    return this.act('PublishCategoryKey', { patient, category, epoch, recipient, sealedKey }, 'publishCategoryKeyBySig', [
      patient,
      category,
      epoch,
      { recipient, sealedKey },
    ]);
  }

  rotateCategoryKey(patient: Address, category: number, sealedPreviousKey: Hex): Promise<Relayed> {
    return this.act('RotateCategoryKey', { patient, category, sealedPreviousKey }, 'rotateCategoryKeyBySig', [patient, category, sealedPreviousKey]);
  }

  setGuardian(guardian: Address, powers: number): Promise<Relayed> {
    return this.act('SetGuardian', { guardian, powers }, 'setGuardianBySig', [guardian, powers]);
  }

  removeGuardian(guardian: Address): Promise<Relayed> {
    return this.act('RemoveGuardian', { guardian }, 'removeGuardianBySig', [guardian]);
  }

  addDevice(device: Address, category: number): Promise<Relayed> {
    return this.act('AddDevice', { device, category }, 'addDeviceBySig', [device, category]);
  }

  removeDevice(device: Address): Promise<Relayed> {
    return this.act('RemoveDevice', { device }, 'removeDeviceBySig', [device]);
  }

  addStaff(staff: Address, role: number, licenceExpiry: number): Promise<Relayed> {
    return this.act('AddStaff', { staff, role, licenceExpiry }, 'addStaffBySig', [staff, role, licenceExpiry]);
  }

  removeStaff(staff: Address): Promise<Relayed> {
    return this.act('RemoveStaff', { staff }, 'removeStaffBySig', [staff]);
  }
}
