// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IMedVault} from "./IMedVault.sol";

/// @title IMedVaultForwarder
/// @notice Gasless MedVault: every patient, guardian, organisation and staff action as an EIP-712 message that
/// anyone (the gateway's relayer) may submit. Each `...BySig` checks the deadline and the signature over the
/// action, the signer and the signer's next nonce, in the domain (name "MedVault", version "1", chain id, this
/// forwarder), uses the nonce up, and calls {IMedVault} as the signer, where the action's own rules apply.
/// Signatures are 65-byte ECDSA with low s from externally owned accounts, or whatever an ERC-1271 wallet
/// accepts. The signer's current nonce is `nonces(signer)`.
/// @dev Types, as signed (`bytes` fields are signed as their keccak256):
/// `AddStaff(address staff,uint8 role,uint40 licenceExpiry,address signer,uint256 nonce,uint256 deadline)`,
/// and likewise for each action: its arguments in order, then `address signer,uint256 nonce,uint256 deadline`.
/// `addRecord` signs `AddRecord(address patient,uint8 category,bytes cid,bytes32 ciphertextHash,bytes wrappedKey,
/// uint32 epoch,uint256 amends,Envelope[] envelopes,address signer,uint256 nonce,uint256 deadline)` with
/// `Envelope(address recipient,bytes sealedKey)`; the envelope of the key publications is flattened into
/// `address recipient,bytes sealedKey`.
interface IMedVaultForwarder {
    /// @notice The signer's authorisation of a `...BySig` call.
    /// @param signer Who signed; the action is taken as if they had sent it.
    /// @param deadline The last second at which the signature may be used.
    /// @param signature A 65-byte ECDSA signature (low s), or whatever the signer's ERC-1271 wallet accepts.
    struct Signature {
        address signer;
        uint256 deadline;
        bytes signature;
    }

    /// @notice The signature's deadline has passed.
    error ExpiredSignature(uint256 deadline);
    /// @notice The signature is not `signer`'s for this action, chain, forwarder and nonce.
    error InvalidSignature(address signer);

    /// @notice {IMedVault-addStaff}, signed by the organisation.
    function addStaffBySig(address account, IMedVault.Role role, uint40 licenceExpiry, Signature calldata auth) external;

    /// @notice {IMedVault-removeStaff}, signed by the organisation.
    function removeStaffBySig(address account, Signature calldata auth) external;

    /// @notice {IMedVault-register}, signed by the patient.
    function registerBySig(bytes calldata encryptionKey, Signature calldata auth) external;

    /// @notice {IMedVault-setEncryptionKey}, signed by the participant.
    function setEncryptionKeyBySig(bytes calldata encryptionKey, Signature calldata auth) external;

    /// @notice {IMedVault-setGuardian}, signed by the patient.
    function setGuardianBySig(address guardian, uint8 powers, Signature calldata auth) external;

    /// @notice {IMedVault-removeGuardian}, signed by the patient.
    function removeGuardianBySig(address guardian, Signature calldata auth) external;

    /// @notice {IMedVault-addDevice}, signed by the patient.
    function addDeviceBySig(address device, uint8 category, Signature calldata auth) external;

    /// @notice {IMedVault-removeDevice}, signed by the patient.
    function removeDeviceBySig(address device, Signature calldata auth) external;

    /// @notice {IMedVault-setEmergencyCustodian}, signed by the patient.
    function setEmergencyCustodianBySig(address custodian, Signature calldata auth) external;

    /// @notice {IMedVault-addRecord}, signed by the author.
    function addRecordBySig(
        IMedVault.RecordInput calldata record,
        IMedVault.Envelope[] calldata envelopes,
        Signature calldata auth
    ) external returns (uint256 recordId);

    /// @notice {IMedVault-raiseAlert}, signed by the device or the staff member.
    function raiseAlertBySig(uint256 recordId, uint8 severity, Signature calldata auth) external;

    /// @notice {IMedVault-grant}, signed by the patient or a manage guardian.
    function grantBySig(
        address patient,
        address grantee,
        uint64 readMask,
        uint64 writeMask,
        uint40 expiry,
        Signature calldata auth
    ) external;

    /// @notice {IMedVault-revoke}, signed by the patient or a manage guardian.
    function revokeBySig(address patient, address grantee, Signature calldata auth) external;

    /// @notice {IMedVault-grantRecord}, signed by the patient or a manage guardian.
    function grantRecordBySig(uint256 recordId, address grantee, uint40 expiry, Signature calldata auth) external;

    /// @notice {IMedVault-revokeRecord}, signed by the patient or a manage guardian.
    function revokeRecordBySig(uint256 recordId, address grantee, Signature calldata auth) external;

    /// @notice {IMedVault-requestAccess}, signed by the staff member.
    function requestAccessBySig(
        address patient,
        uint64 readMask,
        uint64 writeMask,
        uint32 duration,
        bytes32 purposeHash,
        Signature calldata auth
    ) external returns (uint256 requestId);

    /// @notice {IMedVault-approveRequest}, signed by the patient or a manage guardian.
    function approveRequestBySig(uint256 requestId, Signature calldata auth) external;

    /// @notice {IMedVault-denyRequest}, signed by the patient or a manage guardian.
    function denyRequestBySig(uint256 requestId, Signature calldata auth) external;

    /// @notice {IMedVault-publishCategoryKey}, signed by the publisher.
    function publishCategoryKeyBySig(
        address patient,
        uint8 category,
        uint32 epoch,
        IMedVault.Envelope calldata envelope,
        Signature calldata auth
    ) external;

    /// @notice {IMedVault-publishRecordKey}, signed by the publisher.
    function publishRecordKeyBySig(uint256 recordId, IMedVault.Envelope calldata envelope, Signature calldata auth)
        external;

    /// @notice {IMedVault-rotateCategoryKey}, signed by the patient or a manage guardian.
    function rotateCategoryKeyBySig(
        address patient,
        uint8 category,
        bytes calldata sealedPreviousKey,
        Signature calldata auth
    ) external returns (uint32 epoch);

    /// @notice {IMedVault-openBreakGlass}, signed by the staff member.
    function openBreakGlassBySig(address patient, bytes32 reasonHash, Signature calldata auth)
        external
        returns (uint256 caseId);

    /// @notice {IMedVault-closeBreakGlass}, signed by the reviewer.
    function closeBreakGlassBySig(uint256 caseId, IMedVault.Verdict verdict, Signature calldata auth) external;

    /// @notice The MedVault this forwarder calls.
    function vault() external view returns (IMedVault);
}
