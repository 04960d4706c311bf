// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {MedVault} from "../src/MedVault.sol";
import {MedVaultForwarder} from "../src/MedVaultForwarder.sol";
import {IMedVault} from "../src/interfaces/IMedVault.sol";
import {IMedVaultForwarder} from "../src/interfaces/IMedVaultForwarder.sol";
import {MedVaultTest} from "./utils/MedVaultTest.sol";

/// @dev An ERC-1271 wallet with one EOA owner.
contract OwnedWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

/// @dev An ERC-1271 wallet that checks its owner's signature but answers with the wrong magic value.
contract WrongMagicWallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? bytes4(0x1626ba7f) : bytes4(0xffffffff);
    }
}

contract MedVaultForwarderTest is MedVaultTest {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint64 internal constant READ = VITALS_BIT | LABS_BIT;
    uint64 internal constant WRITE = VITALS_BIT;

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    function _domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("MedVault"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
    }

    function _typedDigest(
        bytes32 domainSeparator,
        bytes32 typeHash,
        bytes memory args,
        address signer,
        uint256 nonce,
        uint256 deadline
    ) internal pure returns (bytes32) {
        bytes32 structHash = keccak256(abi.encodePacked(typeHash, args, abi.encode(signer, nonce, deadline)));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Signs with `key` for the claimed `signer`'s next nonce, in this forwarder's domain, valid for an hour.
    function _signAs(uint256 key, address signer, bytes32 typeHash, bytes memory args)
        internal
        view
        returns (IMedVaultForwarder.Signature memory)
    {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = _digest(typeHash, args, signer, forwarder.nonces(signer), deadline);
        return IMedVaultForwarder.Signature({signer: signer, deadline: deadline, signature: _signDigest(key, digest)});
    }

    /// @dev Signs with `key` for its own address, `nonce` and `deadline` in this forwarder's domain.
    function _signAt(uint256 key, bytes32 typeHash, bytes memory args, uint256 nonce, uint256 deadline)
        internal
        view
        returns (IMedVaultForwarder.Signature memory)
    {
        address signer = vm.addr(key);
        bytes32 digest = _digest(typeHash, args, signer, nonce, deadline);
        return IMedVaultForwarder.Signature({signer: signer, deadline: deadline, signature: _signDigest(key, digest)});
    }

    function _hashEnvelopes(IMedVault.Envelope[] memory envelopes) internal pure returns (bytes32) {
        bytes memory hashes;
        for (uint256 i; i < envelopes.length; ++i) {
            hashes = abi.encodePacked(
                hashes, keccak256(abi.encode(ENVELOPE, envelopes[i].recipient, keccak256(envelopes[i].sealedKey)))
            );
        }
        return keccak256(hashes);
    }

    function _recordArgs(IMedVault.RecordInput memory record, IMedVault.Envelope[] memory envelopes)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(
            abi.encode(record.patient, record.category, keccak256(record.cid), record.ciphertextHash),
            abi.encode(keccak256(record.wrappedKey), record.epoch, record.amends, _hashEnvelopes(envelopes))
        );
    }

    function _recordId(address owner, uint8 category, uint88 sequence) internal pure returns (uint256) {
        return (uint256(uint160(owner)) << 96) | (uint256(category) << 88) | sequence;
    }

    function _envelopes(address a, uint256 seedA, address b, uint256 seedB)
        internal
        pure
        returns (IMedVault.Envelope[] memory envelopes)
    {
        envelopes = new IMedVault.Envelope[](2);
        envelopes[0] = IMedVault.Envelope({recipient: a, sealedKey: _sealed(seedA)});
        envelopes[1] = IMedVault.Envelope({recipient: b, sealedKey: _sealed(seedB)});
    }

    function _grantArgs(address grantee, uint40 expiry) internal view returns (bytes memory) {
        return abi.encode(patient, grantee, READ, WRITE, expiry);
    }

    /// @dev The patient's signature of a grant of READ/WRITE to the doctor until EXPIRY.
    function _signedGrant() internal view returns (IMedVaultForwarder.Signature memory) {
        return _sign(patientKey, GRANT, _grantArgs(doctor, EXPIRY));
    }

    function _submitGrant(IMedVaultForwarder.Signature memory auth) internal {
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, WRITE, EXPIRY, auth);
    }

    function _expectGrantRejected(IMedVaultForwarder.Signature memory auth, bytes memory reason) internal {
        vm.expectRevert(reason);
        _submitGrant(auth);
        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 0, "nonce moved");
    }

    function _assertNoGrant(address grantee) internal view {
        IMedVault.Grant memory g = vault.grantOf(patient, grantee);
        assertEq(g.readMask, 0, "grant made");
        assertEq(g.expiry, 0, "grant made");
    }

    function _invalid(address signer) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IMedVaultForwarder.InvalidSignature.selector, signer);
    }

    // ------------------------------------------------------------------------------------------------
    // Domain
    // ------------------------------------------------------------------------------------------------

    function test_DOMAIN_SEPARATOR_isMedVaultV1OnThisChainAndForwarder() public view {
        assertEq(forwarder.DOMAIN_SEPARATOR(), _domainSeparator(block.chainid, address(forwarder)));
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            forwarder.eip712Domain();
        assertEq(name, "MedVault");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(forwarder));
    }

    function test_vault_isTheDeployingMedVault() public view {
        assertEq(address(forwarder.vault()), address(vault));
        assertEq(vault.forwarder(), address(forwarder));
    }

    // ------------------------------------------------------------------------------------------------
    // One success per action, submitted by someone other than the signer
    // ------------------------------------------------------------------------------------------------

    function test_addStaffBySig_addsStaffAsTheOrganisation() public {
        address lab = makeAddr("lab");
        IMedVaultForwarder.Signature memory auth =
            _sign(hospitalKey, ADD_STAFF, abi.encode(lab, uint8(IMedVault.Role.Lab), LICENCE_EXPIRY));

        vm.expectEmit(address(vault));
        emit IMedVault.StaffAdded(hospital, lab, IMedVault.Role.Lab, LICENCE_EXPIRY, uint40(block.timestamp));
        vm.prank(relayer);
        forwarder.addStaffBySig(lab, IMedVault.Role.Lab, LICENCE_EXPIRY, auth);

        IMedVault.Staff memory s = vault.staff(lab);
        assertEq(s.organisation, hospital);
        assertEq(uint8(s.role), uint8(IMedVault.Role.Lab));
        assertEq(s.licenceExpiry, LICENCE_EXPIRY);
        assertEq(forwarder.nonces(hospital), 1);
    }

    function test_removeStaffBySig_removesStaffAsTheOrganisation() public {
        IMedVaultForwarder.Signature memory auth = _sign(hospitalKey, REMOVE_STAFF, abi.encode(nurse));

        vm.expectEmit(address(vault));
        emit IMedVault.StaffRemoved(hospital, nurse);
        vm.prank(stranger);
        forwarder.removeStaffBySig(nurse, auth);

        assertEq(uint8(vault.staff(nurse).role), uint8(IMedVault.Role.None));
        assertEq(forwarder.nonces(hospital), 1);
    }

    function test_registerBySig_registersTheSigner() public {
        (address newPatient, uint256 newPatientKey) = makeAddrAndKey("newPatient");
        bytes memory key = _key(20);
        IMedVaultForwarder.Signature memory auth = _sign(newPatientKey, REGISTER, abi.encode(keccak256(key)));

        vm.expectEmit(address(vault));
        emit IMedVault.PatientRegistered(newPatient);
        vm.expectEmit(address(vault));
        emit IMedVault.EncryptionKeySet(newPatient, key);
        vm.prank(relayer);
        forwarder.registerBySig(key, auth);

        assertTrue(vault.isPatient(newPatient));
        assertFalse(vault.isPatient(relayer));
        assertEq(vault.encryptionKey(newPatient), key);
        assertEq(forwarder.nonces(newPatient), 1);
    }

    function test_setEncryptionKeyBySig_setsTheSignersKey() public {
        bytes memory key = _key(30);
        IMedVaultForwarder.Signature memory auth = _sign(doctorKey, SET_ENCRYPTION_KEY, abi.encode(keccak256(key)));

        vm.expectEmit(address(vault));
        emit IMedVault.EncryptionKeySet(doctor, key);
        vm.prank(relayer);
        forwarder.setEncryptionKeyBySig(key, auth);

        assertEq(vault.encryptionKey(doctor), key);
        assertEq(vault.encryptionKey(relayer).length, 0);
        assertEq(forwarder.nonces(doctor), 1);
    }

    function test_setGuardianBySig_setsTheSignersGuardian() public {
        uint8 powers = vault.POWER_READ();
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, SET_GUARDIAN, abi.encode(custodian, powers));

        vm.expectEmit(address(vault));
        emit IMedVault.GuardianSet(patient, custodian, powers);
        vm.prank(relayer);
        forwarder.setGuardianBySig(custodian, powers, auth);

        assertEq(vault.guardianPowers(patient, custodian), powers);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_removeGuardianBySig_removesTheSignersGuardian() public {
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, REMOVE_GUARDIAN, abi.encode(guardian));

        vm.expectEmit(address(vault));
        emit IMedVault.GuardianRemoved(patient, guardian);
        vm.prank(stranger);
        forwarder.removeGuardianBySig(guardian, auth);

        assertEq(vault.guardianPowers(patient, guardian), 0);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_addDeviceBySig_addsTheSignersDevice() public {
        address monitor = makeAddr("monitor");
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, ADD_DEVICE, abi.encode(monitor, LABS));

        vm.expectEmit(address(vault));
        emit IMedVault.DeviceAdded(patient, monitor, LABS);
        vm.prank(relayer);
        forwarder.addDeviceBySig(monitor, LABS, auth);

        (address owner, uint8 category) = vault.device(monitor);
        assertEq(owner, patient);
        assertEq(category, LABS);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_removeDeviceBySig_removesTheSignersDevice() public {
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, REMOVE_DEVICE, abi.encode(device));

        vm.expectEmit(address(vault));
        emit IMedVault.DeviceRemoved(patient, device);
        vm.prank(relayer);
        forwarder.removeDeviceBySig(device, auth);

        (address owner,) = vault.device(device);
        assertEq(owner, address(0));
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_setEmergencyCustodianBySig_setsTheSignersCustodian() public {
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, SET_EMERGENCY_CUSTODIAN, abi.encode(guardian));

        vm.expectEmit(address(vault));
        emit IMedVault.EmergencyCustodianSet(patient, guardian);
        vm.prank(relayer);
        forwarder.setEmergencyCustodianBySig(guardian, auth);

        assertEq(vault.emergencyCustodian(patient), guardian);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_addRecordBySig_addsRecordAsTheSigner() public {
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 1);
        IMedVault.Envelope[] memory envelopes = _noEnvelopes();
        IMedVaultForwarder.Signature memory auth = _sign(deviceKey, ADD_RECORD, _recordArgs(record, envelopes));
        uint256 expectedId = _recordId(patient, VITALS, 1);

        vm.expectEmit(address(vault));
        emit IMedVault.RecordAdded(expectedId, patient, device, record);
        vm.prank(relayer);
        uint256 recordId = forwarder.addRecordBySig(record, envelopes, auth);

        assertEq(recordId, expectedId);
        assertEq(vault.recordCount(patient), 1);
        assertTrue(vault.verifyRecord(recordId, record.cid, record.ciphertextHash));
        assertEq(forwarder.nonces(device), 1);
    }

    function test_addRecordBySig_publishesEnvelopesAsTheSigner() public {
        _grant(doctor, READ, WRITE, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 2);
        record.wrappedKey = "";
        IMedVault.Envelope[] memory envelopes = _envelopes(doctor, 1, guardian, 2);
        IMedVaultForwarder.Signature memory auth = _sign(doctorKey, ADD_RECORD, _recordArgs(record, envelopes));
        uint256 expectedId = _recordId(patient, VITALS, 1);

        vm.expectEmit(address(vault));
        emit IMedVault.RecordAdded(expectedId, patient, doctor, record);
        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(expectedId, doctor, doctor, _sealed(1));
        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(expectedId, guardian, doctor, _sealed(2));
        vm.prank(stranger);
        uint256 recordId = forwarder.addRecordBySig(record, envelopes, auth);

        assertEq(recordId, expectedId);
        assertEq(vault.recordCount(patient), 1);
        assertEq(forwarder.nonces(doctor), 1);
    }

    function test_addRecordBySig_revertsWhen_envelopeTampered() public {
        _grant(doctor, READ, WRITE, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 2);
        record.wrappedKey = "";
        IMedVault.Envelope[] memory envelopes = _envelopes(doctor, 1, guardian, 2);
        IMedVaultForwarder.Signature memory auth = _sign(doctorKey, ADD_RECORD, _recordArgs(record, envelopes));

        // Another sealed key, the envelopes reordered, or one dropped: none is what the doctor signed.
        IMedVault.Envelope[][] memory tampered = new IMedVault.Envelope[][](3);
        tampered[0] = _envelopes(doctor, 1, guardian, 3);
        tampered[1] = _envelopes(guardian, 2, doctor, 1);
        tampered[2] = new IMedVault.Envelope[](1);
        tampered[2][0] = envelopes[0];
        for (uint256 i; i < tampered.length; ++i) {
            vm.expectRevert(_invalid(doctor));
            vm.prank(relayer);
            forwarder.addRecordBySig(record, tampered[i], auth);
        }

        assertEq(vault.recordCount(patient), 0);
        assertEq(forwarder.nonces(doctor), 0);
    }

    function test_raiseAlertBySig_raisesAlertAsTheSigner() public {
        uint256 recordId = _addRecord(device, patient, VITALS, 1);
        IMedVaultForwarder.Signature memory auth = _sign(deviceKey, RAISE_ALERT, abi.encode(recordId, uint8(3)));

        vm.expectEmit(address(vault));
        emit IMedVault.AlertRaised(patient, recordId, device, 3);
        vm.prank(relayer);
        forwarder.raiseAlertBySig(recordId, 3, auth);

        assertEq(forwarder.nonces(device), 1);
    }

    function test_grantBySig_grantsAsThePatient() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();

        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, patient, READ, WRITE, EXPIRY);
        _submitGrant(auth);

        IMedVault.Grant memory g = vault.grantOf(patient, doctor);
        assertEq(g.readMask, READ);
        assertEq(g.writeMask, WRITE);
        assertEq(g.expiry, EXPIRY);
        assertEq(g.grantedAt, block.timestamp);
        assertTrue(vault.hasAccess(patient, doctor, LABS));
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_grantBySig_grantsAsAManageGuardian() public {
        IMedVaultForwarder.Signature memory auth = _sign(guardianKey, GRANT, _grantArgs(nurse, EXPIRY));

        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, nurse, guardian, READ, WRITE, EXPIRY);
        vm.prank(stranger);
        forwarder.grantBySig(patient, nurse, READ, WRITE, EXPIRY, auth);

        assertEq(vault.grantOf(patient, nurse).readMask, READ);
        assertEq(forwarder.nonces(guardian), 1);
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_revokeBySig_revokesAsThePatient() public {
        _grant(doctor, READ, WRITE, EXPIRY);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, REVOKE, abi.encode(patient, doctor));

        vm.expectEmit(address(vault));
        emit IMedVault.Revoked(patient, doctor, patient);
        vm.prank(relayer);
        forwarder.revokeBySig(patient, doctor, auth);

        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_grantRecordBySig_grantsRecordAsThePatient() public {
        uint256 recordId = _addRecord(patient, patient, VITALS, 1);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, GRANT_RECORD, abi.encode(recordId, nurse, EXPIRY));

        vm.expectEmit(address(vault));
        emit IMedVault.RecordGranted(recordId, nurse, patient, EXPIRY);
        vm.prank(relayer);
        forwarder.grantRecordBySig(recordId, nurse, EXPIRY, auth);

        assertEq(vault.recordGrantExpiry(recordId, nurse), EXPIRY);
        assertTrue(vault.canRead(recordId, nurse));
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_revokeRecordBySig_revokesRecordAsAGuardian() public {
        uint256 recordId = _addRecord(patient, patient, VITALS, 1);
        vm.prank(patient);
        vault.grantRecord(recordId, nurse, EXPIRY);
        IMedVaultForwarder.Signature memory auth = _sign(guardianKey, REVOKE_RECORD, abi.encode(recordId, nurse));

        vm.expectEmit(address(vault));
        emit IMedVault.RecordRevoked(recordId, nurse, guardian);
        vm.prank(relayer);
        forwarder.revokeRecordBySig(recordId, nurse, auth);

        assertEq(vault.recordGrantExpiry(recordId, nurse), 0);
        assertEq(forwarder.nonces(guardian), 1);
    }

    function test_requestAccessBySig_requestsAsTheStaffMember() public {
        bytes32 purpose = keccak256("follow-up");
        IMedVaultForwarder.Signature memory auth =
            _sign(doctorKey, REQUEST_ACCESS, abi.encode(patient, READ, WRITE, uint32(7 days), purpose));

        vm.expectEmit(address(vault));
        emit IMedVault.AccessRequested(1, patient, doctor, READ, WRITE, 7 days, purpose);
        vm.prank(relayer);
        uint256 requestId = forwarder.requestAccessBySig(patient, READ, WRITE, 7 days, purpose, auth);

        assertEq(requestId, 1);
        IMedVault.Request memory r = vault.request(requestId);
        assertEq(r.staff, doctor);
        assertEq(r.patient, patient);
        assertEq(uint8(r.status), uint8(IMedVault.RequestStatus.Pending));
        assertEq(forwarder.nonces(doctor), 1);
    }

    function _requestAsDoctor() internal returns (uint256) {
        vm.prank(doctor);
        return vault.requestAccess(patient, READ, WRITE, 7 days, keccak256("follow-up"));
    }

    function test_approveRequestBySig_approvesAsThePatient() public {
        uint256 requestId = _requestAsDoctor();
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, APPROVE_REQUEST, abi.encode(requestId));

        vm.expectEmit(address(vault));
        emit IMedVault.RequestApproved(requestId, patient, doctor, START + 7 days);
        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, patient, READ, WRITE, START + 7 days);
        vm.prank(relayer);
        forwarder.approveRequestBySig(requestId, auth);

        assertEq(uint8(vault.request(requestId).status), uint8(IMedVault.RequestStatus.Approved));
        assertEq(vault.grantOf(patient, doctor).expiry, START + 7 days);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_denyRequestBySig_deniesAsAGuardian() public {
        uint256 requestId = _requestAsDoctor();
        IMedVaultForwarder.Signature memory auth = _sign(guardianKey, DENY_REQUEST, abi.encode(requestId));

        vm.expectEmit(address(vault));
        emit IMedVault.RequestDenied(requestId, patient, doctor);
        vm.prank(stranger);
        forwarder.denyRequestBySig(requestId, auth);

        assertEq(uint8(vault.request(requestId).status), uint8(IMedVault.RequestStatus.Denied));
        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(guardian), 1);
    }

    function test_publishCategoryKeyBySig_publishesAsThePatient() public {
        _grant(doctor, READ, WRITE, EXPIRY);
        IMedVault.Envelope memory envelope = IMedVault.Envelope({recipient: doctor, sealedKey: _sealed(1)});
        IMedVaultForwarder.Signature memory auth = _sign(
            patientKey, PUBLISH_CATEGORY_KEY, abi.encode(patient, VITALS, uint32(0), doctor, keccak256(_sealed(1)))
        );

        vm.expectEmit(address(vault));
        emit IMedVault.CategoryKeyPublished(patient, doctor, VITALS, 0, patient, _sealed(1));
        vm.prank(relayer);
        forwarder.publishCategoryKeyBySig(patient, VITALS, 0, envelope, auth);

        assertEq(forwarder.nonces(patient), 1);
    }

    function test_publishRecordKeyBySig_publishesAsThePatient() public {
        uint256 recordId = _addRecord(patient, patient, VITALS, 1);
        IMedVault.Envelope memory envelope = IMedVault.Envelope({recipient: guardian, sealedKey: _sealed(2)});
        IMedVaultForwarder.Signature memory auth =
            _sign(patientKey, PUBLISH_RECORD_KEY, abi.encode(recordId, guardian, keccak256(_sealed(2))));

        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(recordId, guardian, patient, _sealed(2));
        vm.prank(relayer);
        forwarder.publishRecordKeyBySig(recordId, envelope, auth);

        assertEq(forwarder.nonces(patient), 1);
    }

    function test_rotateCategoryKeyBySig_rotatesAsAGuardian() public {
        bytes memory sealedPrevious = _sealed(3);
        IMedVaultForwarder.Signature memory auth =
            _sign(guardianKey, ROTATE_CATEGORY_KEY, abi.encode(patient, VITALS, keccak256(sealedPrevious)));

        vm.expectEmit(address(vault));
        emit IMedVault.CategoryKeyRotated(patient, VITALS, 1, guardian, sealedPrevious);
        vm.prank(relayer);
        uint32 epoch = forwarder.rotateCategoryKeyBySig(patient, VITALS, sealedPrevious, auth);

        assertEq(epoch, 1);
        assertEq(vault.categoryEpoch(patient, VITALS), 1);
        assertEq(forwarder.nonces(guardian), 1);
    }

    function test_openBreakGlassBySig_opensAsTheResponder() public {
        bytes32 reason = keccak256("unconscious");
        IMedVaultForwarder.Signature memory auth = _sign(responderKey, OPEN_BREAK_GLASS, abi.encode(patient, reason));

        vm.expectEmit(address(vault));
        emit IMedVault.BreakGlassOpened(1, patient, hospital, responder, reason, START + 12 hours);
        vm.prank(relayer);
        uint256 caseId = forwarder.openBreakGlassBySig(patient, reason, auth);

        assertEq(caseId, 1);
        assertEq(vault.emergencyCase(caseId).staff, responder);
        assertTrue(vault.hasAccess(patient, responder, EMERGENCY));
        assertEq(vault.staff(responder).openCases, 1);
        assertEq(forwarder.nonces(responder), 1);
    }

    function test_closeBreakGlassBySig_closesAsTheOrganisation() public {
        vm.prank(responder);
        uint256 caseId = vault.openBreakGlass(patient, keccak256("unconscious"));
        IMedVaultForwarder.Signature memory auth =
            _sign(hospitalKey, CLOSE_BREAK_GLASS, abi.encode(caseId, uint8(IMedVault.Verdict.Justified)));

        vm.expectEmit(address(vault));
        emit IMedVault.BreakGlassClosed(caseId, patient, hospital, responder, IMedVault.Verdict.Justified, hospital);
        vm.prank(stranger);
        forwarder.closeBreakGlassBySig(caseId, IMedVault.Verdict.Justified, auth);

        assertEq(uint8(vault.emergencyCase(caseId).verdict), uint8(IMedVault.Verdict.Justified));
        assertFalse(vault.hasAccess(patient, responder, EMERGENCY));
        assertEq(vault.staff(responder).openCases, 0);
        assertEq(forwarder.nonces(hospital), 1);
    }

    // ------------------------------------------------------------------------------------------------
    // Rejections: nothing changes, the nonce stays
    // ------------------------------------------------------------------------------------------------

    function test_grantBySig_revertsWhen_replayed() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();
        _submitGrant(auth);
        vm.prank(patient);
        vault.revoke(patient, doctor);

        vm.expectRevert(_invalid(patient));
        _submitGrant(auth);

        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_grantBySig_revertsWhen_chainChangedAfterSigning() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();
        vm.chainId(block.chainid + 1);
        _expectGrantRejected(auth, _invalid(patient));
    }

    function test_grantBySig_revertsWhen_signedForAnotherChainId() public {
        assertEq(_domainSeparator(block.chainid, address(forwarder)), forwarder.DOMAIN_SEPARATOR());
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = _typedDigest(
            _domainSeparator(1, address(forwarder)), GRANT, _grantArgs(doctor, EXPIRY), patient, 0, deadline
        );
        _expectGrantRejected(
            IMedVaultForwarder.Signature({
                signer: patient, deadline: deadline, signature: _signDigest(patientKey, digest)
            }),
            _invalid(patient)
        );
    }

    function test_grantBySig_revertsWhen_signedForAnotherForwarder() public {
        MedVaultForwarder otherForwarder = MedVaultForwarder(new MedVault(governance).forwarder());
        assertTrue(otherForwarder.DOMAIN_SEPARATOR() != forwarder.DOMAIN_SEPARATOR());
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest =
            _typedDigest(otherForwarder.DOMAIN_SEPARATOR(), GRANT, _grantArgs(doctor, EXPIRY), patient, 0, deadline);
        _expectGrantRejected(
            IMedVaultForwarder.Signature({
                signer: patient, deadline: deadline, signature: _signDigest(patientKey, digest)
            }),
            _invalid(patient)
        );
    }

    function test_grantBySig_revertsWhen_deadlinePassed() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();
        vm.warp(auth.deadline + 1);
        _expectGrantRejected(auth, abi.encodeWithSelector(IMedVaultForwarder.ExpiredSignature.selector, auth.deadline));
    }

    function test_grantBySig_revertsWhen_deadlineBeforeNow() public {
        uint256 deadline = block.timestamp - 1;
        IMedVaultForwarder.Signature memory auth = _signAt(patientKey, GRANT, _grantArgs(doctor, EXPIRY), 0, deadline);
        _expectGrantRejected(auth, abi.encodeWithSelector(IMedVaultForwarder.ExpiredSignature.selector, deadline));
    }

    function test_grantBySig_succeedsWhen_deadlineIsNow() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();
        vm.warp(auth.deadline);
        _submitGrant(auth);
        assertEq(vault.grantOf(patient, doctor).readMask, READ);
        assertEq(forwarder.nonces(patient), 1);
    }

    function test_grantBySig_revertsWhen_highS() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = _digest(GRANT, _grantArgs(doctor, EXPIRY), patient, 0, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(patientKey, digest);
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        // The malleated signature is still a valid ECDSA signature by the patient, as ecrecover sees it.
        assertEq(ecrecover(digest, flippedV, r, highS), patient);

        _expectGrantRejected(
            IMedVaultForwarder.Signature({
                signer: patient, deadline: deadline, signature: abi.encodePacked(r, highS, flippedV)
            }),
            _invalid(patient)
        );
    }

    function test_grantBySig_revertsWhen_signedByAnotherKey() public {
        (address strangerAgain, uint256 strangerKey) = makeAddrAndKey("stranger");
        assertEq(strangerAgain, stranger);
        _expectGrantRejected(_signAs(strangerKey, patient, GRANT, _grantArgs(doctor, EXPIRY)), _invalid(patient));
    }

    function test_grantBySig_revertsWhen_signatureMalformed() public {
        IMedVaultForwarder.Signature memory valid = _signedGrant();
        bytes memory sig = valid.signature;
        (bytes32 r, bytes32 s) = abi.decode(sig, (bytes32, bytes32));
        (bytes32 compactR, bytes32 vs) =
            vm.signCompact(patientKey, _digest(GRANT, _grantArgs(doctor, EXPIRY), patient, 0, valid.deadline));

        bytes[] memory bad = new bytes[](7);
        bad[0] = "";
        bad[1] = abi.encodePacked(r, s); // truncated: no v
        bad[2] = abi.encodePacked(sig, uint8(0)); // a byte too many
        bad[3] = abi.encodePacked(r, s, uint8(sig[64]) - 27); // v as 0 or 1
        bad[4] = abi.encodePacked(keccak256("r"), keccak256("s"), uint8(27)); // garbage
        bad[5] = abi.encodePacked(compactR, vs); // EIP-2098 compact form is not accepted
        bad[6] = abi.encodePacked(bytes32(0), s, uint8(sig[64])); // r = 0
        for (uint256 i; i < bad.length; ++i) {
            valid.signature = bad[i];
            _expectGrantRejected(valid, _invalid(patient));
        }
    }

    function test_grantBySig_revertsWhen_nonceNotNext() public {
        uint256 deadline = block.timestamp + 1 hours;
        _expectGrantRejected(_signAt(patientKey, GRANT, _grantArgs(doctor, EXPIRY), 1, deadline), _invalid(patient));
    }

    function test_grantBySig_revertsWhen_argumentTampered() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();

        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, WRITE, EXPIRY + 1, auth);
        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.grantBySig(patient, nurse, READ, WRITE, EXPIRY, auth);
        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, READ, EXPIRY, auth);

        _assertNoGrant(doctor);
        _assertNoGrant(nurse);
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_grantBySig_revertsWhen_deadlineTampered() public {
        IMedVaultForwarder.Signature memory auth = _signedGrant();
        auth.deadline += 1 days;
        _expectGrantRejected(auth, _invalid(patient));
    }

    function test_removeDeviceBySig_revertsWhen_givenRemoveGuardianSignature() public {
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, REMOVE_GUARDIAN, abi.encode(guardian));

        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.removeDeviceBySig(guardian, auth);

        assertEq(vault.guardianPowers(patient, guardian), vault.POWER_MANAGE() | vault.POWER_READ());
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_approveRequestBySig_revertsWhen_givenDenyRequestSignature() public {
        uint256 requestId = _requestAsDoctor();
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, DENY_REQUEST, abi.encode(requestId));

        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.approveRequestBySig(requestId, auth);

        assertEq(uint8(vault.request(requestId).status), uint8(IMedVault.RequestStatus.Pending));
        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_setEncryptionKeyBySig_revertsWhen_givenRegisterSignature() public {
        bytes memory key = _key(40);
        IMedVaultForwarder.Signature memory auth = _sign(doctorKey, REGISTER, abi.encode(keccak256(key)));

        vm.expectRevert(_invalid(doctor));
        vm.prank(relayer);
        forwarder.setEncryptionKeyBySig(key, auth);

        assertEq(vault.encryptionKey(doctor), _key(1));
        assertEq(forwarder.nonces(doctor), 0);
    }

    // ------------------------------------------------------------------------------------------------
    // ERC-1271 wallets
    // ------------------------------------------------------------------------------------------------

    function test_registerBySig_registersAnErc1271Wallet() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("walletOwner");
        address wallet = address(new OwnedWallet(owner));
        bytes memory key = _key(50);

        vm.expectEmit(address(vault));
        emit IMedVault.PatientRegistered(wallet);
        vm.prank(relayer);
        forwarder.registerBySig(key, _signAs(ownerKey, wallet, REGISTER, abi.encode(keccak256(key))));
        assertTrue(vault.isPatient(wallet));
        assertFalse(vault.isPatient(owner));
        assertEq(forwarder.nonces(wallet), 1);

        vm.expectEmit(address(vault));
        emit IMedVault.Granted(wallet, doctor, wallet, READ, WRITE, EXPIRY);
        vm.prank(stranger);
        forwarder.grantBySig(
            wallet,
            doctor,
            READ,
            WRITE,
            EXPIRY,
            _signAs(ownerKey, wallet, GRANT, abi.encode(wallet, doctor, READ, WRITE, EXPIRY))
        );
        assertEq(vault.grantOf(wallet, doctor).readMask, READ);
        assertEq(forwarder.nonces(wallet), 2);
        assertEq(forwarder.nonces(owner), 0);
    }

    function test_registerBySig_revertsWhen_walletRejectsTheSigner() public {
        address wallet = address(new OwnedWallet(makeAddr("walletOwner")));
        bytes memory key = _key(50);
        IMedVaultForwarder.Signature memory auth = _signAs(patientKey, wallet, REGISTER, abi.encode(keccak256(key)));

        vm.expectRevert(_invalid(wallet));
        vm.prank(relayer);
        forwarder.registerBySig(key, auth);

        assertFalse(vault.isPatient(wallet));
        assertEq(forwarder.nonces(wallet), 0);
    }

    function test_registerBySig_revertsWhen_walletReturnsWrongMagic() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("walletOwner");
        address wallet = address(new WrongMagicWallet(owner));
        bytes memory key = _key(50);
        IMedVaultForwarder.Signature memory auth = _signAs(ownerKey, wallet, REGISTER, abi.encode(keccak256(key)));
        assertEq(
            WrongMagicWallet(wallet)
                .isValidSignature(
                    _digest(REGISTER, abi.encode(keccak256(key)), wallet, 0, auth.deadline), auth.signature
                ),
            bytes4(0x1626ba7f)
        );

        vm.expectRevert(_invalid(wallet));
        vm.prank(relayer);
        forwarder.registerBySig(key, auth);

        assertFalse(vault.isPatient(wallet));
        assertEq(forwarder.nonces(wallet), 0);
    }

    // ------------------------------------------------------------------------------------------------
    // MedVault's errors come through unchanged, and the nonce is not used up
    // ------------------------------------------------------------------------------------------------

    function test_grantBySig_bubblesInvalidExpiry() public {
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, GRANT, _grantArgs(doctor, START));

        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidExpiry.selector, START));
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, WRITE, START, auth);

        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_grantBySig_bubblesNotManagerNamingTheSigner() public {
        (, uint256 strangerKey) = makeAddrAndKey("stranger");
        IMedVaultForwarder.Signature memory auth = _sign(strangerKey, GRANT, _grantArgs(doctor, EXPIRY));

        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, stranger, patient));
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, WRITE, EXPIRY, auth);

        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(stranger), 0);
    }

    function test_addRecordBySig_bubblesInvalidCid() public {
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 1);
        record.cid = hex"0170";
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, ADD_RECORD, _recordArgs(record, _noEnvelopes()));

        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCid.selector, 2));
        vm.prank(relayer);
        forwarder.addRecordBySig(record, _noEnvelopes(), auth);

        assertEq(vault.recordCount(patient), 0);
        assertEq(forwarder.nonces(patient), 0);
    }

    function test_addStaffBySig_bubblesNotActiveOrganisationForGovernance() public {
        (address gov, uint256 govKey) = makeAddrAndKey("governance");
        assertEq(gov, governance);
        address lab = makeAddr("lab");
        IMedVaultForwarder.Signature memory auth =
            _sign(govKey, ADD_STAFF, abi.encode(lab, uint8(IMedVault.Role.Lab), LICENCE_EXPIRY));

        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotActiveOrganisation.selector, governance));
        vm.prank(relayer);
        forwarder.addStaffBySig(lab, IMedVault.Role.Lab, LICENCE_EXPIRY, auth);

        assertEq(uint8(vault.staff(lab).role), uint8(IMedVault.Role.None));
        assertEq(forwarder.nonces(governance), 0);
    }

    // ------------------------------------------------------------------------------------------------
    // Governance is out of the forwarder's reach
    // ------------------------------------------------------------------------------------------------

    function test_forwarder_hasNoGovernanceEntryPoints() public {
        address org = makeAddr("newOrganisation");
        bytes[] memory calls = new bytes[](9);
        calls[0] = abi.encodeCall(IMedVault.addOrganisation, (org));
        calls[1] = abi.encodeCall(IMedVault.suspendOrganisation, (hospital));
        calls[2] = abi.encodeCall(IMedVault.restoreOrganisation, (hospital));
        calls[3] = abi.encodeCall(IMedVault.setRelayer, (stranger, true));
        calls[4] = abi.encodeCall(Ownable.transferOwnership, (stranger));
        calls[5] = abi.encodeCall(Ownable2Step.acceptOwnership, ());
        calls[6] = abi.encodeCall(Ownable.renounceOwnership, ());
        calls[7] = abi.encodeCall(IMedVault.anchorAccessLog, (1, keccak256("log")));
        calls[8] = abi.encodePacked(abi.encodeCall(IMedVault.addOrganisation, (org)), governance);
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(governance);
            (bool ok, bytes memory data) = address(forwarder).call(calls[i]);
            assertFalse(ok, "forwarder accepted a governance selector");
            assertEq(data.length, 0, "forwarder answered a governance selector");
        }
        assertEq(uint8(vault.organisationStatus(org)), uint8(IMedVault.OrganisationStatus.None));
        assertEq(uint8(vault.organisationStatus(hospital)), uint8(IMedVault.OrganisationStatus.Active));
        assertFalse(vault.isRelayer(stranger));
        assertEq(vault.owner(), governance);
        assertEq(vault.pendingOwner(), address(0));
    }

    /// @dev Documents the trust MedVault places in its forwarder: a call from the forwarder's address acts as
    /// whoever its last 20 bytes name, governance included. Only the forwarder's fixed `...BySig` entry points
    /// (which never encode a governance selector) stand between a signature and governance.
    function test_checkOwner_ignoresForwarderSuffix() public {
        address org = makeAddr("newOrganisation");
        bytes memory call = abi.encodeCall(IMedVault.addOrganisation, (org));

        // From anyone else, the suffix is ignored.
        vm.prank(stranger);
        (bool ok, bytes memory data) = address(vault).call(abi.encodePacked(call, governance));
        assertFalse(ok);
        assertEq(data, abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));

        // From the forwarder too: governance acts only as itself.
        vm.prank(address(forwarder));
        (ok, data) = address(vault).call(abi.encodePacked(call, governance));
        assertFalse(ok);
        assertEq(data, abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(forwarder)));
        assertEq(uint8(vault.organisationStatus(org)), uint8(IMedVault.OrganisationStatus.None));
    }

    // ------------------------------------------------------------------------------------------------
    // Fuzz
    // ------------------------------------------------------------------------------------------------

    function testFuzz_grantBySig_validIffDeadlineNotPassed(uint256 deadline) public {
        // setUp left the clock at START.
        deadline = bound(deadline, START - 2 days, START + 2 days);
        IMedVaultForwarder.Signature memory auth = _signAt(patientKey, GRANT, _grantArgs(doctor, EXPIRY), 0, deadline);

        if (deadline < START) {
            _expectGrantRejected(auth, abi.encodeWithSelector(IMedVaultForwarder.ExpiredSignature.selector, deadline));
        } else {
            _submitGrant(auth);
            assertEq(vault.grantOf(patient, doctor).readMask, READ);
            assertEq(forwarder.nonces(patient), 1);
        }
    }

    function testFuzz_grantBySig_revertsWhen_keyIsNotTheClaimedSigners(uint256 key) public {
        key = bound(key, 1, SECP256K1_N - 1);
        vm.assume(vm.addr(key) != patient);
        _expectGrantRejected(_signAs(key, patient, GRANT, _grantArgs(doctor, EXPIRY)), _invalid(patient));
    }

    function testFuzz_grantBySig_revertsWhen_expiryTampered(uint40 signedExpiry, uint40 submittedExpiry) public {
        vm.assume(signedExpiry != submittedExpiry);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, GRANT, _grantArgs(doctor, signedExpiry));

        vm.expectRevert(_invalid(patient));
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, READ, WRITE, submittedExpiry, auth);

        _assertNoGrant(doctor);
        assertEq(forwarder.nonces(patient), 0);
    }

    function testFuzz_grantBySig_setsTheSignedScope(uint64 readMask, uint64 writeMask, uint40 expiry) public {
        readMask = uint64(bound(readMask, 1, type(uint64).max));
        writeMask &= readMask;
        expiry = uint40(bound(expiry, block.timestamp + 1, type(uint40).max));
        IMedVaultForwarder.Signature memory auth =
            _sign(patientKey, GRANT, abi.encode(patient, doctor, readMask, writeMask, expiry));

        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, patient, readMask, writeMask, expiry);
        vm.prank(relayer);
        forwarder.grantBySig(patient, doctor, readMask, writeMask, expiry, auth);

        IMedVault.Grant memory g = vault.grantOf(patient, doctor);
        assertEq(g.readMask, readMask);
        assertEq(g.writeMask, writeMask);
        assertEq(g.expiry, expiry);
        assertEq(forwarder.nonces(patient), 1);
    }
}
