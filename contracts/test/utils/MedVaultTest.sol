// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";

import {MedVault} from "../../src/MedVault.sol";
import {MedVaultForwarder} from "../../src/MedVaultForwarder.sol";
import {IMedVault} from "../../src/interfaces/IMedVault.sol";
import {IMedVaultForwarder} from "../../src/interfaces/IMedVaultForwarder.sol";

/// @notice A deployed MedVault with a cast: governance, two hospitals, their staff, a patient with a guardian,
/// a device and a custodian, and a stranger. Helpers build records and sign `...BySig` calls.
abstract contract MedVaultTest is Test {
    uint8 internal constant EMERGENCY = 0;
    uint8 internal constant VITALS = 1;
    uint8 internal constant LABS = 2;
    uint64 internal constant VITALS_BIT = uint64(1) << VITALS;
    uint64 internal constant LABS_BIT = uint64(1) << LABS;
    uint64 internal constant EMERGENCY_BIT = uint64(1) << EMERGENCY;
    uint40 internal constant START = 1_700_000_000;
    uint40 internal constant LICENCE_EXPIRY = START + 365 days;
    uint40 internal constant EXPIRY = START + 30 days;

    MedVault internal vault;
    MedVaultForwarder internal forwarder;

    address internal governance = makeAddr("governance");
    address internal hospital;
    uint256 internal hospitalKey;
    address internal otherHospital = makeAddr("otherHospital");
    address internal doctor;
    uint256 internal doctorKey;
    address internal nurse = makeAddr("nurse");
    address internal responder;
    uint256 internal responderKey;
    address internal patient;
    uint256 internal patientKey;
    address internal guardian;
    uint256 internal guardianKey;
    address internal device;
    uint256 internal deviceKey;
    address internal custodian;
    uint256 internal custodianKey;
    address internal stranger = makeAddr("stranger");
    address internal relayer = makeAddr("relayer");

    function setUp() public virtual {
        vm.warp(START);
        (hospital, hospitalKey) = makeAddrAndKey("hospital");
        (doctor, doctorKey) = makeAddrAndKey("doctor");
        (responder, responderKey) = makeAddrAndKey("responder");
        (patient, patientKey) = makeAddrAndKey("patient");
        (guardian, guardianKey) = makeAddrAndKey("guardian");
        (device, deviceKey) = makeAddrAndKey("device");
        (custodian, custodianKey) = makeAddrAndKey("custodian");

        vault = new MedVault(governance);
        forwarder = MedVaultForwarder(vault.forwarder());

        vm.startPrank(governance);
        vault.addOrganisation(hospital);
        vault.addOrganisation(otherHospital);
        vault.setRelayer(relayer, true);
        vm.stopPrank();

        vm.startPrank(hospital);
        vault.addStaff(doctor, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        vault.addStaff(nurse, IMedVault.Role.Nurse, LICENCE_EXPIRY);
        vault.addStaff(responder, IMedVault.Role.Emergency, LICENCE_EXPIRY);
        vm.stopPrank();
        _setKey(doctor, 1);
        _setKey(nurse, 2);
        _setKey(responder, 3);

        vm.prank(patient);
        vault.register(_key(10));
        _setKey(guardian, 11);
        _setKey(custodian, 12);
        vm.startPrank(patient);
        vault.setGuardian(guardian, vault.POWER_MANAGE() | vault.POWER_READ());
        vault.addDevice(device, VITALS);
        vault.setEmergencyCustodian(custodian);
        vm.stopPrank();
    }

    // -- fixtures ---------------------------------------------------------------------------------------

    /// @dev A valid compressed public key, different for each seed.
    function _key(uint256 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(seed % 2 == 0 ? 0x02 : 0x03), keccak256(abi.encode(seed)));
    }

    function _setKey(address account, uint256 seed) internal {
        vm.prank(account);
        vault.setEncryptionKey(_key(seed));
    }

    /// @dev A CIDv1 (dag-pb, sha2-256) naming `seed`'s ciphertext.
    function _cid(uint256 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"01701220", keccak256(abi.encode("cid", seed)));
    }

    function _ciphertextHash(uint256 seed) internal pure returns (bytes32) {
        return sha256(abi.encode("ciphertext", seed));
    }

    /// @dev A 60-byte wrapped key (AES-256-GCM: nonce, key, tag).
    function _wrappedKey(uint256 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes12(keccak256(abi.encode("n", seed))), keccak256(abi.encode(seed)), bytes16(0));
    }

    /// @dev A 129-byte ECIES envelope as eciesjs lays it out (ephemeral key, nonce, tag, sealed key).
    function _sealed(uint256 seed) internal pure returns (bytes memory) {
        bytes32 h = keccak256(abi.encode("sealed", seed));
        return abi.encodePacked(bytes1(0x04), h, h, bytes16(h), bytes16(h), h);
    }

    function _recordInput(address owner, uint8 category, uint256 seed)
        internal
        view
        returns (IMedVault.RecordInput memory)
    {
        return IMedVault.RecordInput({
            patient: owner,
            category: category,
            cid: _cid(seed),
            ciphertextHash: _ciphertextHash(seed),
            wrappedKey: _wrappedKey(seed),
            epoch: vault.categoryEpoch(owner, category),
            amends: 0
        });
    }

    function _noEnvelopes() internal pure returns (IMedVault.Envelope[] memory) {
        return new IMedVault.Envelope[](0);
    }

    function _addRecord(address author, address owner, uint8 category, uint256 seed) internal returns (uint256) {
        IMedVault.RecordInput memory record = _recordInput(owner, category, seed);
        if (author != owner) record.wrappedKey = "";
        vm.prank(author);
        return vault.addRecord(record, _noEnvelopes());
    }

    function _grant(address grantee, uint64 readMask, uint64 writeMask, uint40 expiry) internal {
        vm.prank(patient);
        vault.grant(patient, grantee, readMask, writeMask, expiry);
    }

    // -- signatures -------------------------------------------------------------------------------------

    string internal constant SIGNED_BY = "address signer,uint256 nonce,uint256 deadline)";

    // The EIP-712 types, spelled out so that drift in the forwarder is caught.
    bytes32 internal immutable ADD_STAFF = _typeHash("AddStaff(address staff,uint8 role,uint40 licenceExpiry");
    bytes32 internal immutable REMOVE_STAFF = _typeHash("RemoveStaff(address staff");
    bytes32 internal immutable REGISTER = _typeHash("Register(bytes encryptionKey");
    bytes32 internal immutable SET_ENCRYPTION_KEY = _typeHash("SetEncryptionKey(bytes encryptionKey");
    bytes32 internal immutable SET_GUARDIAN = _typeHash("SetGuardian(address guardian,uint8 powers");
    bytes32 internal immutable REMOVE_GUARDIAN = _typeHash("RemoveGuardian(address guardian");
    bytes32 internal immutable ADD_DEVICE = _typeHash("AddDevice(address device,uint8 category");
    bytes32 internal immutable REMOVE_DEVICE = _typeHash("RemoveDevice(address device");
    bytes32 internal immutable SET_EMERGENCY_CUSTODIAN = _typeHash("SetEmergencyCustodian(address custodian");
    bytes32 internal immutable RAISE_ALERT = _typeHash("RaiseAlert(uint256 recordId,uint8 severity");
    bytes32 internal immutable GRANT =
        _typeHash("Grant(address patient,address grantee,uint64 readMask,uint64 writeMask,uint40 expiry");
    bytes32 internal immutable REVOKE = _typeHash("Revoke(address patient,address grantee");
    bytes32 internal immutable GRANT_RECORD = _typeHash("GrantRecord(uint256 recordId,address grantee,uint40 expiry");
    bytes32 internal immutable REVOKE_RECORD = _typeHash("RevokeRecord(uint256 recordId,address grantee");
    bytes32 internal immutable REQUEST_ACCESS =
        _typeHash("RequestAccess(address patient,uint64 readMask,uint64 writeMask,uint32 duration,bytes32 purposeHash");
    bytes32 internal immutable APPROVE_REQUEST = _typeHash("ApproveRequest(uint256 requestId");
    bytes32 internal immutable DENY_REQUEST = _typeHash("DenyRequest(uint256 requestId");
    bytes32 internal immutable PUBLISH_CATEGORY_KEY =
        _typeHash("PublishCategoryKey(address patient,uint8 category,uint32 epoch,address recipient,bytes sealedKey");
    bytes32 internal immutable PUBLISH_RECORD_KEY =
        _typeHash("PublishRecordKey(uint256 recordId,address recipient,bytes sealedKey");
    bytes32 internal immutable ROTATE_CATEGORY_KEY =
        _typeHash("RotateCategoryKey(address patient,uint8 category,bytes sealedPreviousKey");
    bytes32 internal immutable OPEN_BREAK_GLASS = _typeHash("OpenBreakGlass(address patient,bytes32 reasonHash");
    bytes32 internal immutable CLOSE_BREAK_GLASS = _typeHash("CloseBreakGlass(uint256 caseId,uint8 verdict");
    bytes32 internal constant ENVELOPE = keccak256("Envelope(address recipient,bytes sealedKey)");
    bytes32 internal constant ADD_RECORD = keccak256(
        "AddRecord(address patient,uint8 category,bytes cid,bytes32 ciphertextHash,bytes wrappedKey,uint32 epoch,"
        "uint256 amends,Envelope[] envelopes,address signer,uint256 nonce,uint256 deadline)"
        "Envelope(address recipient,bytes sealedKey)"
    );

    /// @dev The EIP-712 type hash of `action(args...)` followed by the signer, nonce and deadline.
    function _typeHash(string memory actionAndArgs) internal pure returns (bytes32) {
        return keccak256(bytes(string.concat(actionAndArgs, ",", SIGNED_BY)));
    }

    function _digest(bytes32 typeHash, bytes memory args, address signer, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encodePacked(typeHash, args, abi.encode(signer, nonce, deadline)));
        return keccak256(abi.encodePacked("\x19\x01", forwarder.DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev Signs an action with `key` for its address's next nonce, valid for an hour.
    function _sign(uint256 key, bytes32 typeHash, bytes memory args)
        internal
        view
        returns (IMedVaultForwarder.Signature memory)
    {
        address signer = vm.addr(key);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = _digest(typeHash, args, signer, forwarder.nonces(signer), deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return IMedVaultForwarder.Signature({signer: signer, deadline: deadline, signature: abi.encodePacked(r, s, v)});
    }
}
