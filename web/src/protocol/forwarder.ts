/**
 * The forwarder calls that carry signed actions: `relayCalldata` encodes
 * `<action>BySig(arguments..., auth)` for the gateway's `POST /v1/relay`,
 * as `medvault_core::sig::Action::sign` builds the call. `web/test/unit`
 * compares the ABI with `core/abi/MedVaultForwarder.json` and the calldata
 * of every action with the Rust side's.
 */
import { type Hex, encodeFunctionData, getAddress, parseAbi } from 'viem';

import type { Action, ActionName, Authorisation } from './typed';

/** The forwarder's nonces and every `...BySig` entry point. */
export const forwarderAbi = parseAbi([
  'struct Signature { address signer; uint256 deadline; bytes signature; }',
  'struct Envelope { address recipient; bytes sealedKey; }',
  'struct RecordInput { address patient; uint8 category; bytes cid; bytes32 ciphertextHash; bytes wrappedKey; uint32 epoch; uint256 amends; }',
  'function nonces(address owner) view returns (uint256)',
  'function addStaffBySig(address account, uint8 role, uint40 licenceExpiry, Signature auth)',
  'function removeStaffBySig(address account, Signature auth)',
  'function registerBySig(bytes key, Signature auth)',
  'function setEncryptionKeyBySig(bytes key, Signature auth)',
  'function setGuardianBySig(address guardian, uint8 powers, Signature auth)',
  'function removeGuardianBySig(address guardian, Signature auth)',
  'function addDeviceBySig(address account, uint8 category, Signature auth)',
  'function removeDeviceBySig(address account, Signature auth)',
  'function setEmergencyCustodianBySig(address custodian, Signature auth)',
  'function addRecordBySig(RecordInput record, Envelope[] envelopes, Signature auth) returns (uint256)',
  'function raiseAlertBySig(uint256 recordId, uint8 severity, Signature auth)',
  'function grantBySig(address patient, address grantee, uint64 readMask, uint64 writeMask, uint40 expiry, Signature auth)',
  'function revokeBySig(address patient, address grantee, Signature auth)',
  'function grantRecordBySig(uint256 recordId, address grantee, uint40 expiry, Signature auth)',
  'function revokeRecordBySig(uint256 recordId, address grantee, Signature auth)',
  'function requestAccessBySig(address patient, uint64 readMask, uint64 writeMask, uint32 duration, bytes32 purposeHash, Signature auth) returns (uint256)',
  'function approveRequestBySig(uint256 requestId, Signature auth)',
  'function denyRequestBySig(uint256 requestId, Signature auth)',
  'function publishCategoryKeyBySig(address patient, uint8 category, uint32 epoch, Envelope envelope, Signature auth)',
  'function publishRecordKeyBySig(uint256 recordId, Envelope envelope, Signature auth)',
  'function rotateCategoryKeyBySig(address patient, uint8 category, bytes sealedPreviousKey, Signature auth) returns (uint32)',
  'function openBreakGlassBySig(address patient, bytes32 reasonHash, Signature auth) returns (uint256)',
  'function closeBreakGlassBySig(uint256 caseId, uint8 verdict, Signature auth)',
]);

/** The forwarder function of an action: `Grant` → `grantBySig`. */
export function bySigFunction(name: ActionName): string {
  return `${name[0]!.toLowerCase()}${name.slice(1)}BySig`;
}

/** The arguments of an action's forwarder function, before `auth`. */
function callArguments(action: Action): readonly unknown[] {
  switch (action.type) {
    case 'AddStaff':
      return [action.staff, action.role, action.licenceExpiry];
    case 'RemoveStaff':
      return [action.staff];
    case 'Register':
    case 'SetEncryptionKey':
      return [action.encryptionKey];
    case 'SetGuardian':
      return [action.guardian, action.powers];
    case 'RemoveGuardian':
      return [action.guardian];
    case 'AddDevice':
      return [action.device, action.category];
    case 'RemoveDevice':
      return [action.device];
    case 'SetEmergencyCustodian':
      return [action.custodian];
    case 'AddRecord': {
      const { patient, category, cid, ciphertextHash, wrappedKey, epoch, amends, envelopes } = action;
      return [{ patient, category, cid, ciphertextHash, wrappedKey, epoch, amends }, envelopes];
    }
    case 'RaiseAlert':
      return [action.recordId, action.severity];
    case 'Grant':
      return [action.patient, action.grantee, action.readMask, action.writeMask, action.expiry];
    case 'Revoke':
      return [action.patient, action.grantee];
    case 'GrantRecord':
      return [action.recordId, action.grantee, action.expiry];
    case 'RevokeRecord':
      return [action.recordId, action.grantee];
    case 'RequestAccess':
      return [action.patient, action.readMask, action.writeMask, action.duration, action.purposeHash];
    case 'ApproveRequest':
    case 'DenyRequest':
      return [action.requestId];
    case 'PublishCategoryKey':
      return [
        action.patient,
        action.category,
        action.epoch,
        { recipient: action.recipient, sealedKey: action.sealedKey },
      ];
    case 'PublishRecordKey':
      return [action.recordId, { recipient: action.recipient, sealedKey: action.sealedKey }];
    case 'RotateCategoryKey':
      return [action.patient, action.category, action.sealedPreviousKey];
    case 'OpenBreakGlass':
      return [action.patient, action.reasonHash];
    case 'CloseBreakGlass':
      return [action.caseId, action.verdict];
  }
}

/**
 * The calldata of `<action>BySig(arguments..., auth)`: what the gateway's
 * `POST /v1/relay` takes once the signer has signed the action's typed data
 * with `auth`'s nonce and deadline.
 */
export function relayCalldata(action: Action, auth: Authorisation, signature: Hex): Hex {
  return encodeFunctionData({
    abi: forwarderAbi,
    functionName: bySigFunction(action.type) as 'grantBySig',
    args: [...callArguments(action), { signer: getAddress(auth.signer), deadline: auth.deadline, signature }] as never,
  });
}
