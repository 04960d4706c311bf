// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IMedVault} from "./interfaces/IMedVault.sol";
import {IMedVaultForwarder} from "./interfaces/IMedVaultForwarder.sol";

/// @title MedVaultForwarder
/// @notice The EIP-712 entry points of MedVault. See {IMedVaultForwarder}.
/// @dev Deployed by {MedVault}'s constructor, which trusts this contract alone to name a sender: each action is
/// forwarded as `abi.encodePacked(call, signer)`, ERC-2771 style. Only MedVault's actions are ever forwarded,
/// never governance. It holds the nonces; MedVault holds everything else. Kept apart so that MedVault's code
/// stays under the EIP-170 size limit.
contract MedVaultForwarder is IMedVaultForwarder, EIP712, Nonces {
    /// @inheritdoc IMedVaultForwarder
    IMedVault public immutable vault;

    // EIP-712 types. Each names the action's arguments (bytes hashed), then who signed, their nonce and deadline.
    bytes32 private constant _ADD_STAFF_TYPEHASH = keccak256(
        "AddStaff(address staff,uint8 role,uint40 licenceExpiry,address signer,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _REMOVE_STAFF_TYPEHASH =
        keccak256("RemoveStaff(address staff,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REGISTER_TYPEHASH =
        keccak256("Register(bytes encryptionKey,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _SET_ENCRYPTION_KEY_TYPEHASH =
        keccak256("SetEncryptionKey(bytes encryptionKey,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _SET_GUARDIAN_TYPEHASH =
        keccak256("SetGuardian(address guardian,uint8 powers,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REMOVE_GUARDIAN_TYPEHASH =
        keccak256("RemoveGuardian(address guardian,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _ADD_DEVICE_TYPEHASH =
        keccak256("AddDevice(address device,uint8 category,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REMOVE_DEVICE_TYPEHASH =
        keccak256("RemoveDevice(address device,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _SET_EMERGENCY_CUSTODIAN_TYPEHASH =
        keccak256("SetEmergencyCustodian(address custodian,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _ENVELOPE_TYPEHASH = keccak256("Envelope(address recipient,bytes sealedKey)");
    bytes32 private constant _ADD_RECORD_TYPEHASH = keccak256(
        "AddRecord(address patient,uint8 category,bytes cid,bytes32 ciphertextHash,bytes wrappedKey,uint32 epoch,"
        "uint256 amends,Envelope[] envelopes,address signer,uint256 nonce,uint256 deadline)"
        "Envelope(address recipient,bytes sealedKey)"
    );
    bytes32 private constant _RAISE_ALERT_TYPEHASH =
        keccak256("RaiseAlert(uint256 recordId,uint8 severity,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _GRANT_TYPEHASH = keccak256(
        "Grant(address patient,address grantee,uint64 readMask,uint64 writeMask,uint40 expiry,address signer,"
        "uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _REVOKE_TYPEHASH =
        keccak256("Revoke(address patient,address grantee,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _GRANT_RECORD_TYPEHASH = keccak256(
        "GrantRecord(uint256 recordId,address grantee,uint40 expiry,address signer,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _REVOKE_RECORD_TYPEHASH =
        keccak256("RevokeRecord(uint256 recordId,address grantee,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REQUEST_ACCESS_TYPEHASH = keccak256(
        "RequestAccess(address patient,uint64 readMask,uint64 writeMask,uint32 duration,bytes32 purposeHash,"
        "address signer,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _APPROVE_REQUEST_TYPEHASH =
        keccak256("ApproveRequest(uint256 requestId,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _DENY_REQUEST_TYPEHASH =
        keccak256("DenyRequest(uint256 requestId,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _PUBLISH_CATEGORY_KEY_TYPEHASH = keccak256(
        "PublishCategoryKey(address patient,uint8 category,uint32 epoch,address recipient,bytes sealedKey,"
        "address signer,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _PUBLISH_RECORD_KEY_TYPEHASH = keccak256(
        "PublishRecordKey(uint256 recordId,address recipient,bytes sealedKey,address signer,uint256 nonce,"
        "uint256 deadline)"
    );
    bytes32 private constant _ROTATE_CATEGORY_KEY_TYPEHASH = keccak256(
        "RotateCategoryKey(address patient,uint8 category,bytes sealedPreviousKey,address signer,uint256 nonce,"
        "uint256 deadline)"
    );
    bytes32 private constant _OPEN_BREAK_GLASS_TYPEHASH =
        keccak256("OpenBreakGlass(address patient,bytes32 reasonHash,address signer,uint256 nonce,uint256 deadline)");
    bytes32 private constant _CLOSE_BREAK_GLASS_TYPEHASH =
        keccak256("CloseBreakGlass(uint256 caseId,uint8 verdict,address signer,uint256 nonce,uint256 deadline)");

    /// @param vault_ The MedVault that deploys this forwarder.
    constructor(IMedVault vault_) EIP712("MedVault", "1") {
        vault = vault_;
    }

    /// @inheritdoc IMedVaultForwarder
    function addStaffBySig(address account, IMedVault.Role role, uint40 licenceExpiry, Signature calldata auth)
        external
    {
        address signer = _authorise(_ADD_STAFF_TYPEHASH, abi.encode(account, role, licenceExpiry), auth);
        _forward(abi.encodeCall(IMedVault.addStaff, (account, role, licenceExpiry)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function removeStaffBySig(address account, Signature calldata auth) external {
        address signer = _authorise(_REMOVE_STAFF_TYPEHASH, abi.encode(account), auth);
        _forward(abi.encodeCall(IMedVault.removeStaff, (account)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function registerBySig(bytes calldata key, Signature calldata auth) external {
        address signer = _authorise(_REGISTER_TYPEHASH, abi.encode(keccak256(key)), auth);
        _forward(abi.encodeCall(IMedVault.register, (key)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function setEncryptionKeyBySig(bytes calldata key, Signature calldata auth) external {
        address signer = _authorise(_SET_ENCRYPTION_KEY_TYPEHASH, abi.encode(keccak256(key)), auth);
        _forward(abi.encodeCall(IMedVault.setEncryptionKey, (key)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function setGuardianBySig(address guardian, uint8 powers, Signature calldata auth) external {
        address signer = _authorise(_SET_GUARDIAN_TYPEHASH, abi.encode(guardian, powers), auth);
        _forward(abi.encodeCall(IMedVault.setGuardian, (guardian, powers)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function removeGuardianBySig(address guardian, Signature calldata auth) external {
        address signer = _authorise(_REMOVE_GUARDIAN_TYPEHASH, abi.encode(guardian), auth);
        _forward(abi.encodeCall(IMedVault.removeGuardian, (guardian)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function addDeviceBySig(address account, uint8 category, Signature calldata auth) external {
        address signer = _authorise(_ADD_DEVICE_TYPEHASH, abi.encode(account, category), auth);
        _forward(abi.encodeCall(IMedVault.addDevice, (account, category)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function removeDeviceBySig(address account, Signature calldata auth) external {
        address signer = _authorise(_REMOVE_DEVICE_TYPEHASH, abi.encode(account), auth);
        _forward(abi.encodeCall(IMedVault.removeDevice, (account)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function setEmergencyCustodianBySig(address custodian, Signature calldata auth) external {
        address signer = _authorise(_SET_EMERGENCY_CUSTODIAN_TYPEHASH, abi.encode(custodian), auth);
        _forward(abi.encodeCall(IMedVault.setEmergencyCustodian, (custodian)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function raiseAlertBySig(uint256 recordId, uint8 severity, Signature calldata auth) external {
        address signer = _authorise(_RAISE_ALERT_TYPEHASH, abi.encode(recordId, severity), auth);
        _forward(abi.encodeCall(IMedVault.raiseAlert, (recordId, severity)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function grantBySig(
        address patient,
        address grantee,
        uint64 readMask,
        uint64 writeMask,
        uint40 expiry,
        Signature calldata auth
    ) external {
        address signer = _authorise(_GRANT_TYPEHASH, abi.encode(patient, grantee, readMask, writeMask, expiry), auth);
        _forward(abi.encodeCall(IMedVault.grant, (patient, grantee, readMask, writeMask, expiry)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function revokeBySig(address patient, address grantee, Signature calldata auth) external {
        address signer = _authorise(_REVOKE_TYPEHASH, abi.encode(patient, grantee), auth);
        _forward(abi.encodeCall(IMedVault.revoke, (patient, grantee)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function grantRecordBySig(uint256 recordId, address grantee, uint40 expiry, Signature calldata auth) external {
        address signer = _authorise(_GRANT_RECORD_TYPEHASH, abi.encode(recordId, grantee, expiry), auth);
        _forward(abi.encodeCall(IMedVault.grantRecord, (recordId, grantee, expiry)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function revokeRecordBySig(uint256 recordId, address grantee, Signature calldata auth) external {
        address signer = _authorise(_REVOKE_RECORD_TYPEHASH, abi.encode(recordId, grantee), auth);
        _forward(abi.encodeCall(IMedVault.revokeRecord, (recordId, grantee)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function requestAccessBySig(
        address patient,
        uint64 readMask,
        uint64 writeMask,
        uint32 duration,
        bytes32 purposeHash,
        Signature calldata auth
    ) external returns (uint256) {
        address signer = _authorise(
            _REQUEST_ACCESS_TYPEHASH, abi.encode(patient, readMask, writeMask, duration, purposeHash), auth
        );
        return abi.decode(
            _forward(
                abi.encodeCall(IMedVault.requestAccess, (patient, readMask, writeMask, duration, purposeHash)), signer
            ),
            (uint256)
        );
    }

    /// @inheritdoc IMedVaultForwarder
    function approveRequestBySig(uint256 requestId, Signature calldata auth) external {
        address signer = _authorise(_APPROVE_REQUEST_TYPEHASH, abi.encode(requestId), auth);
        _forward(abi.encodeCall(IMedVault.approveRequest, (requestId)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function denyRequestBySig(uint256 requestId, Signature calldata auth) external {
        address signer = _authorise(_DENY_REQUEST_TYPEHASH, abi.encode(requestId), auth);
        _forward(abi.encodeCall(IMedVault.denyRequest, (requestId)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function publishCategoryKeyBySig(
        address patient,
        uint8 category,
        uint32 epoch,
        IMedVault.Envelope calldata envelope,
        Signature calldata auth
    ) external {
        address signer = _authorise(
            _PUBLISH_CATEGORY_KEY_TYPEHASH,
            abi.encode(patient, category, epoch, envelope.recipient, keccak256(envelope.sealedKey)),
            auth
        );
        _forward(abi.encodeCall(IMedVault.publishCategoryKey, (patient, category, epoch, envelope)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function publishRecordKeyBySig(uint256 recordId, IMedVault.Envelope calldata envelope, Signature calldata auth)
        external
    {
        address signer = _authorise(
            _PUBLISH_RECORD_KEY_TYPEHASH, abi.encode(recordId, envelope.recipient, keccak256(envelope.sealedKey)), auth
        );
        _forward(abi.encodeCall(IMedVault.publishRecordKey, (recordId, envelope)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function rotateCategoryKeyBySig(
        address patient,
        uint8 category,
        bytes calldata sealedPreviousKey,
        Signature calldata auth
    ) external returns (uint32) {
        address signer = _authorise(
            _ROTATE_CATEGORY_KEY_TYPEHASH, abi.encode(patient, category, keccak256(sealedPreviousKey)), auth
        );
        return abi.decode(
            _forward(abi.encodeCall(IMedVault.rotateCategoryKey, (patient, category, sealedPreviousKey)), signer),
            (uint32)
        );
    }

    /// @inheritdoc IMedVaultForwarder
    function openBreakGlassBySig(address patient, bytes32 reasonHash, Signature calldata auth)
        external
        returns (uint256)
    {
        address signer = _authorise(_OPEN_BREAK_GLASS_TYPEHASH, abi.encode(patient, reasonHash), auth);
        return abi.decode(_forward(abi.encodeCall(IMedVault.openBreakGlass, (patient, reasonHash)), signer), (uint256));
    }

    /// @inheritdoc IMedVaultForwarder
    function closeBreakGlassBySig(uint256 caseId, IMedVault.Verdict verdict, Signature calldata auth) external {
        address signer = _authorise(_CLOSE_BREAK_GLASS_TYPEHASH, abi.encode(caseId, verdict), auth);
        _forward(abi.encodeCall(IMedVault.closeBreakGlass, (caseId, verdict)), signer);
    }

    /// @inheritdoc IMedVaultForwarder
    function addRecordBySig(
        IMedVault.RecordInput calldata record,
        IMedVault.Envelope[] calldata envelopes,
        Signature calldata auth
    ) external returns (uint256) {
        bytes memory args = abi.encode(
            record.patient,
            record.category,
            keccak256(record.cid),
            record.ciphertextHash,
            keccak256(record.wrappedKey),
            record.epoch,
            record.amends,
            _hashEnvelopes(envelopes)
        );
        address signer = _authorise(_ADD_RECORD_TYPEHASH, args, auth);
        return abi.decode(_forward(abi.encodeCall(IMedVault.addRecord, (record, envelopes)), signer), (uint256));
    }

    /// @notice The EIP-712 domain separator of this chain and forwarder.
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Checks a `...BySig` authorisation and returns its signer: the deadline, then the signature over the
    /// action's type hash, its encoded arguments, the signer, the signer's next nonce (used up here) and the
    /// deadline, in this contract's EIP-712 domain. `args` are the action's fields, ABI-encoded as static words.
    function _authorise(bytes32 typeHash, bytes memory args, Signature calldata auth) private returns (address) {
        address signer = auth.signer;
        if (block.timestamp > auth.deadline) revert ExpiredSignature(auth.deadline);
        bytes32 structHash =
            keccak256(bytes.concat(typeHash, args, abi.encode(signer, _useNonce(signer), auth.deadline)));
        if (!SignatureChecker.isValidSignatureNowCalldata(signer, _hashTypedDataV4(structHash), auth.signature)) {
            revert InvalidSignature(signer);
        }
        return signer;
    }

    function _hashEnvelopes(IMedVault.Envelope[] calldata envelopes) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](envelopes.length);
        for (uint256 i; i < envelopes.length; ++i) {
            hashes[i] =
                keccak256(abi.encode(_ENVELOPE_TYPEHASH, envelopes[i].recipient, keccak256(envelopes[i].sealedKey)));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    /// @dev Calls MedVault as `signer` and returns its result, or reverts with MedVault's error unchanged.
    function _forward(bytes memory call, address signer) private returns (bytes memory result) {
        bool success;
        (success, result) = address(vault).call(abi.encodePacked(call, signer));
        if (!success) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}
