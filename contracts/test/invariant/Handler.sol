// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";

import {MedVault} from "../../src/MedVault.sol";
import {MedVaultForwarder} from "../../src/MedVaultForwarder.sol";
import {IMedVault} from "../../src/interfaces/IMedVault.sol";
import {IMedVaultForwarder} from "../../src/interfaces/IMedVaultForwarder.sol";

/// @notice Drives MedVault with 5 patients, 5 staff in 2 organisations (one of them emergency staff), a
/// guardian, a custodian and a stranger through time, and keeps a ghost model of who may read what.
/// @dev The model knows only the rules: a live grant (not expired, licence valid, organisation active) or a
/// live break-glass case. The invariants compare it with the contract's views after every call.
contract Handler is CommonBase, StdCheats, StdUtils {
    uint256 internal constant PATIENTS = 5;
    uint256 internal constant STAFF = 5;
    uint8 internal constant CATEGORIES = 3;
    uint8 internal constant EMERGENCY = 0;

    MedVault public immutable vault;
    MedVaultForwarder public immutable forwarder;
    address public immutable governance;

    address[PATIENTS] public patients;
    uint256[PATIENTS] internal patientKeys;
    address[STAFF] public staff;
    address[2] public organisations;
    address public guardian;
    address public custodian;
    address public stranger;

    // Ghost model.
    mapping(address patient => mapping(address staff => uint64)) internal _readMask;
    mapping(address patient => mapping(address staff => uint40)) internal _expiry;
    mapping(address staff => uint40) internal _licence;
    mapping(address organisation => bool) internal _suspended;
    mapping(address patient => mapping(address staff => uint40)) internal _emergencyUntil;
    mapping(address patient => mapping(address staff => uint256)) internal _case;
    mapping(address account => uint256) public signedActions;

    /// @notice Every record added: its id, CID and ciphertext hash as submitted.
    uint256[] public recordIds;
    mapping(uint256 recordId => bytes) public cids;
    mapping(uint256 recordId => bytes32) public hashes;

    /// @notice Envelope publications the contract accepted although the model forbids them, or refused although
    /// the model allows them.
    uint256 public envelopeMismatches;
    /// @notice Times a nonce moved other than by one per accepted signed action.
    uint256 public nonceMismatches;

    constructor(MedVault vault_, address governance_) {
        vault = vault_;
        forwarder = MedVaultForwarder(vault_.forwarder());
        governance = governance_;
        organisations = [makeAddr("orgA"), makeAddr("orgB")];
        guardian = makeAddr("guardian");
        custodian = makeAddr("custodian");
        stranger = makeAddr("stranger");
        vm.startPrank(governance_);
        vault_.addOrganisation(organisations[0]);
        vault_.addOrganisation(organisations[1]);
        vm.stopPrank();
        for (uint256 i; i < STAFF; ++i) {
            staff[i] = makeAddr(string.concat("staff", vm.toString(i)));
            address org = organisations[i % 2];
            IMedVault.Role role = i == 0 ? IMedVault.Role.Emergency : IMedVault.Role.Doctor;
            _licence[staff[i]] = uint40(block.timestamp + 20 days);
            vm.prank(org);
            vault_.addStaff(staff[i], role, _licence[staff[i]]);
            vm.prank(staff[i]);
            vault_.setEncryptionKey(_key(100 + i));
        }
        vm.prank(guardian);
        vault_.setEncryptionKey(_key(200));
        vm.prank(custodian);
        vault_.setEncryptionKey(_key(201));
        for (uint256 i; i < PATIENTS; ++i) {
            (patients[i], patientKeys[i]) = makeAddrAndKey(string.concat("patient", vm.toString(i)));
            vm.startPrank(patients[i]);
            vault_.register(_key(i));
            vault_.setEmergencyCustodian(custodian);
            vm.stopPrank();
        }
        // Patient 0 has a guardian with both powers.
        vm.prank(patients[0]);
        vault_.setGuardian(guardian, 3);
    }

    // -- actions ----------------------------------------------------------------------------------------

    function grant(uint256 p, uint256 s, uint64 readMask, uint64 writeMask, uint32 duration) external {
        (address patient, address grantee) = (patients[p % PATIENTS], staff[s % STAFF]);
        readMask = (readMask % 7) + 1;
        writeMask &= readMask;
        uint40 expiry = uint40(block.timestamp + bound(duration, 1, 15 days));
        vm.prank(patient);
        vault.grant(patient, grantee, readMask, writeMask, expiry);
        _readMask[patient][grantee] = readMask;
        _expiry[patient][grantee] = expiry;
    }

    function grantBySig(uint256 p, uint256 s, uint64 readMask, uint32 duration) external {
        uint256 i = p % PATIENTS;
        (address patient, address grantee) = (patients[i], staff[s % STAFF]);
        readMask = (readMask % 7) + 1;
        uint40 expiry = uint40(block.timestamp + bound(duration, 1, 15 days));
        uint256 before = forwarder.nonces(patient);
        IMedVaultForwarder.Signature memory auth = _signGrant(i, grantee, readMask, expiry, before);
        vm.prank(stranger);
        forwarder.grantBySig(patient, grantee, readMask, 0, expiry, auth);
        _readMask[patient][grantee] = readMask;
        _expiry[patient][grantee] = expiry;
        signedActions[patient] += 1;
        if (forwarder.nonces(patient) != before + 1) nonceMismatches += 1;
    }

    function _signGrant(uint256 i, address grantee, uint64 readMask, uint40 expiry, uint256 nonce)
        internal
        view
        returns (IMedVaultForwarder.Signature memory)
    {
        address patient = patients[i];
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Grant(address patient,address grantee,uint64 readMask,uint64 writeMask,uint40 expiry,"
                    "address signer,uint256 nonce,uint256 deadline)"
                ),
                patient,
                grantee,
                readMask,
                uint64(0),
                expiry,
                patient,
                nonce,
                block.timestamp
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", forwarder.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 sigS) = vm.sign(patientKeys[i], digest);
        return IMedVaultForwarder.Signature(patient, block.timestamp, abi.encodePacked(r, sigS, v));
    }

    function revoke(uint256 p, uint256 s) external {
        (address patient, address grantee) = (patients[p % PATIENTS], staff[s % STAFF]);
        if (_readMask[patient][grantee] == 0) return;
        vm.prank(patient);
        vault.revoke(patient, grantee);
        delete _readMask[patient][grantee];
        delete _expiry[patient][grantee];
    }

    function requestAndAnswer(uint256 p, uint256 s, uint64 readMask, uint32 duration, bool approve) external {
        (address patient, address account) = (patients[p % PATIENTS], staff[s % STAFF]);
        if (!_isLive(account)) return;
        readMask = (readMask % 7) + 1;
        duration = uint32(bound(duration, 1, 15 days));
        vm.prank(account);
        uint256 id = vault.requestAccess(patient, readMask, 0, duration, keccak256("purpose"));
        vm.prank(patient);
        if (approve) {
            vault.approveRequest(id);
            _readMask[patient][account] = readMask;
            _expiry[patient][account] = uint40(block.timestamp) + duration;
        } else {
            vault.denyRequest(id);
        }
    }

    function suspend(uint256 o) external {
        address org = organisations[o % 2];
        if (_suspended[org]) return;
        vm.prank(governance);
        vault.suspendOrganisation(org);
        _suspended[org] = true;
    }

    function restore(uint256 o) external {
        address org = organisations[o % 2];
        if (!_suspended[org]) return;
        vm.prank(governance);
        vault.restoreOrganisation(org);
        _suspended[org] = false;
    }

    function renewLicence(uint256 s, uint32 duration) external {
        address account = staff[s % STAFF];
        address org = organisations[(s % STAFF) % 2];
        if (_suspended[org]) return;
        uint40 licence = uint40(block.timestamp + bound(duration, 1, 30 days));
        IMedVault.Role role = s % STAFF == 0 ? IMedVault.Role.Emergency : IMedVault.Role.Doctor;
        vm.prank(org);
        vault.addStaff(account, role, licence);
        _licence[account] = licence;
    }

    function warp(uint32 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 5 days));
    }

    function addRecord(uint256 p, uint8 category, uint256 seed) external {
        address patient = patients[p % PATIENTS];
        category %= CATEGORIES;
        bytes memory cid = abi.encodePacked(hex"01701220", keccak256(abi.encode(seed, recordIds.length)));
        bytes32 hash = sha256(cid);
        IMedVault.RecordInput memory record = IMedVault.RecordInput({
            patient: patient,
            category: category,
            cid: cid,
            ciphertextHash: hash,
            wrappedKey: abi.encodePacked(keccak256(cid)),
            epoch: vault.categoryEpoch(patient, category),
            amends: 0
        });
        vm.prank(patient);
        uint256 id = vault.addRecord(record, new IMedVault.Envelope[](0));
        recordIds.push(id);
        cids[id] = cid;
        hashes[id] = hash;
    }

    function openBreakGlass(uint256 p) external {
        address patient = patients[p % PATIENTS];
        address account = staff[0];
        IMedVault.Staff memory s = vault.staff(account);
        if (!_isLive(account) || s.openCases >= 3 || _hasEmergencyAccess(patient, account)) return;
        vm.prank(account);
        uint256 caseId = vault.openBreakGlass(patient, keccak256("reason"));
        _case[patient][account] = caseId;
        _emergencyUntil[patient][account] = uint40(block.timestamp + 12 hours);
    }

    function closeBreakGlass(uint256 p, bool abuse) external {
        address patient = patients[p % PATIENTS];
        uint256 caseId = _case[patient][staff[0]];
        if (caseId == 0) return;
        vm.prank(patient);
        vault.closeBreakGlass(caseId, abuse ? IMedVault.Verdict.Abuse : IMedVault.Verdict.Justified);
        delete _case[patient][staff[0]];
        delete _emergencyUntil[patient][staff[0]];
    }

    /// @dev Anyone tries to publish a category key of a patient to anyone; the contract must agree with the model.
    function publishCategoryKey(uint256 publisherSeed, uint256 p, uint256 recipientSeed, uint8 category) external {
        address patient = patients[p % PATIENTS];
        address publisher = _anyone(publisherSeed);
        address recipient = _anyone(recipientSeed);
        category %= CATEGORIES;
        bool allowed = _mayPublish(publisher, patient, recipient, category);
        uint32 epoch = vault.categoryEpoch(patient, category);
        vm.prank(publisher);
        try vault.publishCategoryKey(patient, category, epoch, IMedVault.Envelope(recipient, hex"04")) {
            if (!allowed) envelopeMismatches += 1;
        } catch {
            if (allowed) envelopeMismatches += 1;
        }
    }

    // -- the model --------------------------------------------------------------------------------------

    /// @notice Whether the model says `account` may read `patient`'s `category` now.
    function modelHasAccess(address patient, address account, uint8 category) public view returns (bool) {
        if (account == patient || (patient == patients[0] && account == guardian)) return true;
        bool granted = (_readMask[patient][account] >> category) & 1 == 1 && block.timestamp < _expiry[patient][account];
        if (granted && _isLive(account)) return true;
        return category == EMERGENCY && _hasEmergencyAccess(patient, account);
    }

    function _isLive(address account) internal view returns (bool) {
        uint256 index = STAFF;
        for (uint256 i; i < STAFF; ++i) {
            if (staff[i] == account) index = i;
        }
        if (index == STAFF) return false;
        return block.timestamp < _licence[account] && !_suspended[organisations[index % 2]];
    }

    function _hasEmergencyAccess(address patient, address account) internal view returns (bool) {
        return account == staff[0] && block.timestamp < _emergencyUntil[patient][account] && _isLive(account);
    }

    function _mayPublish(address publisher, address patient, address recipient, uint8 category)
        internal
        view
        returns (bool)
    {
        bool manager = publisher == patient || (patient == patients[0] && publisher == guardian);
        if (manager) {
            return modelHasAccess(patient, recipient, category) || (category == EMERGENCY && recipient == custodian);
        }
        return publisher == custodian && category == EMERGENCY && _hasEmergencyAccess(patient, recipient);
    }

    /// @dev One of the cast, the stranger included.
    function _anyone(uint256 seed) internal view returns (address) {
        uint256 i = seed % (PATIENTS + STAFF + 3);
        if (i < PATIENTS) return patients[i];
        if (i < PATIENTS + STAFF) return staff[i - PATIENTS];
        if (i == PATIENTS + STAFF) return guardian;
        if (i == PATIENTS + STAFF + 1) return custodian;
        return stranger;
    }

    function _key(uint256 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(0x02), keccak256(abi.encode(seed)));
    }

    function recordCount() external view returns (uint256) {
        return recordIds.length;
    }
}
