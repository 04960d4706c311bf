/**
 * The EIP-712 messages of every `...BySig` action of `MedVaultForwarder`,
 * as `medvault_core::sig` signs them: the page builds the typed data here,
 * the wallet signs it (viem's `signTypedData`), and the gateway relays the
 * forwarder call ({@link ./forwarder}), so the signer needs no ETH.
 *
 * Each type is the action's arguments in order, then `address signer,
 * uint256 nonce, uint256 deadline`; `bytes` are signed as their keccak256 and
 * a record's envelopes as an array of `Envelope` structs (EIP-712 does both).
 * The domain is the forwarder's, not MedVault's. `web/test/unit` compares
 * every type and several digests with the Rust side's.
 */
import { type Address, type Hex, type TypedDataDomain, getAddress, hashTypedData } from 'viem';

/** The EIP-712 domain name of the forwarder. */
export const DOMAIN_NAME = 'MedVault';
/** The EIP-712 domain version of the forwarder. */
export const DOMAIN_VERSION = '1';

/** The forwarder's EIP-712 domain on `chainId`, verified by the forwarder at `forwarder`. */
export function forwarderDomain(chainId: number | bigint, forwarder: Address): TypedDataDomain {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId: Number(chainId), verifyingContract: getAddress(forwarder) };
}

const AUTH = [
  { name: 'signer', type: 'address' },
  { name: 'nonce', type: 'uint256' },
  { name: 'deadline', type: 'uint256' },
] as const;

/** The `Envelope` struct of a record's key envelopes. */
export const ENVELOPE_TYPE = [
  { name: 'recipient', type: 'address' },
  { name: 'sealedKey', type: 'bytes' },
] as const;

/** The EIP-712 type of each action, by name (the forwarder's type strings). */
export const ACTION_TYPES = {
  AddStaff: [
    { name: 'staff', type: 'address' },
    { name: 'role', type: 'uint8' },
    { name: 'licenceExpiry', type: 'uint40' },
    ...AUTH,
  ],
  RemoveStaff: [{ name: 'staff', type: 'address' }, ...AUTH],
  Register: [{ name: 'encryptionKey', type: 'bytes' }, ...AUTH],
  SetEncryptionKey: [{ name: 'encryptionKey', type: 'bytes' }, ...AUTH],
  SetGuardian: [
    { name: 'guardian', type: 'address' },
    { name: 'powers', type: 'uint8' },
    ...AUTH,
  ],
  RemoveGuardian: [{ name: 'guardian', type: 'address' }, ...AUTH],
  AddDevice: [
    { name: 'device', type: 'address' },
    { name: 'category', type: 'uint8' },
    ...AUTH,
  ],
  RemoveDevice: [{ name: 'device', type: 'address' }, ...AUTH],
  SetEmergencyCustodian: [{ name: 'custodian', type: 'address' }, ...AUTH],
  AddRecord: [
    { name: 'patient', type: 'address' },
    { name: 'category', type: 'uint8' },
    { name: 'cid', type: 'bytes' },
    { name: 'ciphertextHash', type: 'bytes32' },
    { name: 'wrappedKey', type: 'bytes' },
    { name: 'epoch', type: 'uint32' },
    { name: 'amends', type: 'uint256' },
    { name: 'envelopes', type: 'Envelope[]' },
    ...AUTH,
  ],
  RaiseAlert: [
    { name: 'recordId', type: 'uint256' },
    { name: 'severity', type: 'uint8' },
    ...AUTH,
  ],
  Grant: [
    { name: 'patient', type: 'address' },
    { name: 'grantee', type: 'address' },
    { name: 'readMask', type: 'uint64' },
    { name: 'writeMask', type: 'uint64' },
    { name: 'expiry', type: 'uint40' },
    ...AUTH,
  ],
  Revoke: [
    { name: 'patient', type: 'address' },
    { name: 'grantee', type: 'address' },
    ...AUTH,
  ],
  GrantRecord: [
    { name: 'recordId', type: 'uint256' },
    { name: 'grantee', type: 'address' },
    { name: 'expiry', type: 'uint40' },
    ...AUTH,
  ],
  RevokeRecord: [
    { name: 'recordId', type: 'uint256' },
    { name: 'grantee', type: 'address' },
    ...AUTH,
  ],
  RequestAccess: [
    { name: 'patient', type: 'address' },
    { name: 'readMask', type: 'uint64' },
    { name: 'writeMask', type: 'uint64' },
    { name: 'duration', type: 'uint32' },
    { name: 'purposeHash', type: 'bytes32' },
    ...AUTH,
  ],
  ApproveRequest: [{ name: 'requestId', type: 'uint256' }, ...AUTH],
  DenyRequest: [{ name: 'requestId', type: 'uint256' }, ...AUTH],
  PublishCategoryKey: [
    { name: 'patient', type: 'address' },
    { name: 'category', type: 'uint8' },
    { name: 'epoch', type: 'uint32' },
    { name: 'recipient', type: 'address' },
    { name: 'sealedKey', type: 'bytes' },
    ...AUTH,
  ],
  PublishRecordKey: [
    { name: 'recordId', type: 'uint256' },
    { name: 'recipient', type: 'address' },
    { name: 'sealedKey', type: 'bytes' },
    ...AUTH,
  ],
  RotateCategoryKey: [
    { name: 'patient', type: 'address' },
    { name: 'category', type: 'uint8' },
    { name: 'sealedPreviousKey', type: 'bytes' },
    ...AUTH,
  ],
  OpenBreakGlass: [
    { name: 'patient', type: 'address' },
    { name: 'reasonHash', type: 'bytes32' },
    ...AUTH,
  ],
  CloseBreakGlass: [
    { name: 'caseId', type: 'uint256' },
    { name: 'verdict', type: 'uint8' },
    ...AUTH,
  ],
} as const;

/** The name of an action: its EIP-712 type. */
export type ActionName = keyof typeof ACTION_TYPES;

/** Every action name, in the order of {@link ACTION_TYPES}. */
export const ACTION_NAMES = Object.keys(ACTION_TYPES) as ActionName[];

/** A record's key envelope: its data key sealed to `recipient`. */
export interface Envelope {
  readonly recipient: Address;
  readonly sealedKey: Hex;
}

/** The TypeScript value of an EIP-712 field type (numbers above 2^53 are bigints). */
type FieldValue<T extends string> = T extends 'address'
  ? Address
  : T extends 'bytes' | 'bytes32'
    ? Hex
    : T extends 'uint8' | 'uint32' | 'uint40'
      ? number
      : T extends 'uint64' | 'uint256'
        ? bigint
        : T extends 'Envelope[]'
          ? readonly Envelope[]
          : never;

type Fields<P extends readonly { readonly name: string; readonly type: string }[]> = {
  readonly [F in P[number] as F['name']]: FieldValue<F['type']>;
};

/** The fields of action `N`: its message without `signer`, `nonce` and `deadline`. */
export type ActionFields<N extends ActionName> = Omit<Fields<(typeof ACTION_TYPES)[N]>, 'signer' | 'nonce' | 'deadline'>;

/** An action of the forwarder: its name and its fields, e.g. `{ type: 'Revoke', patient, grantee }`. */
export type Action = { [N in ActionName]: { readonly type: N } & ActionFields<N> }[ActionName];

/** The action named `N`. */
export type ActionOf<N extends ActionName> = Extract<Action, { readonly type: N }>;

/** Who signs an action, with which forwarder nonce (`nonces(signer)`), valid until when (unix seconds, inclusive). */
export interface Authorisation {
  readonly signer: Address;
  readonly nonce: bigint;
  readonly deadline: bigint;
}

/** An action's typed data, as viem's `signTypedData` and `eth_signTypedData_v4` take it. */
export interface ActionTypedData {
  readonly domain: TypedDataDomain;
  readonly types: Record<string, readonly { readonly name: string; readonly type: string }[]>;
  readonly primaryType: ActionName;
  readonly message: Record<string, unknown>;
}

/** The message of `action` signed by `auth.signer`. */
export function actionMessage(action: Action, auth: Authorisation): Record<string, unknown> {
  const { type: _type, ...fields } = action;
  return { ...fields, signer: getAddress(auth.signer), nonce: auth.nonce, deadline: auth.deadline };
}

/** The typed data the signer signs for `action` in the forwarder's `domain`. */
export function actionTypedData(domain: TypedDataDomain, action: Action, auth: Authorisation): ActionTypedData {
  const types: Record<string, readonly { name: string; type: string }[]> = { [action.type]: ACTION_TYPES[action.type] };
  if (action.type === 'AddRecord') types.Envelope = ENVELOPE_TYPE;
  return { domain, types, primaryType: action.type, message: actionMessage(action, auth) };
}

/** The EIP-712 digest of `action`: what the forwarder recovers the signature against. */
export function actionDigest(domain: TypedDataDomain, action: Action, auth: Authorisation): Hex {
  return hashTypedData(actionTypedData(domain, action, auth));
}
