// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IMedVault} from "../../src/interfaces/IMedVault.sol";
import {IMedVaultForwarder} from "../../src/interfaces/IMedVaultForwarder.sol";
import {MedVaultTest} from "../utils/MedVaultTest.sol";

/// @notice The gas of each operation, recorded in `snapshots/MedVault.json`. Run with `--isolate` (scripts/test.sh
/// does, with FORGE_SNAPSHOT_CHECK set so that drift fails), so each figure is a whole transaction's: the 21,000
/// base, calldata, cold storage and refunds included. Each operation is measured in its common case: a new grant,
/// a new record, a signer whose nonce is already in use (a gasless patient's first signature is their registration).
contract GasTest is MedVaultTest {
    string internal constant GROUP = "MedVault";

    address internal lab;

    function setUp() public override {
        super.setUp();
        lab = makeAddr("lab");
        vm.prank(hospital);
        vault.addStaff(lab, IMedVault.Role.Lab, LICENCE_EXPIRY);
        _setKey(lab, 4);
        // Every signer has signed once before.
        address[5] memory signers = [patient, doctor, responder, hospital, guardian];
        uint256[5] memory keys = [patientKey, doctorKey, responderKey, hospitalKey, guardianKey];
        for (uint256 i; i < signers.length; ++i) {
            IMedVaultForwarder.Signature memory auth =
                _sign(keys[i], SET_ENCRYPTION_KEY, abi.encode(keccak256(_key(i))));
            forwarder.setEncryptionKeyBySig(_key(i), auth);
            assertEq(forwarder.nonces(signers[i]), 1);
        }
    }

    function _snap(string memory name) internal {
        vm.snapshotGasLastCall(GROUP, name);
    }

    // -- direct ---------------------------------------------------------------------------------------

    function test_gas_register() public {
        vm.prank(stranger);
        vault.register(_key(40));
        _snap("register");
    }

    function test_gas_addRecord() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        vm.prank(patient);
        vault.addRecord(record, _noEnvelopes());
        _snap("addRecord");
    }

    function test_gas_addRecordByStaff() public {
        _grant(doctor, LABS_BIT, LABS_BIT, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.wrappedKey = "";
        IMedVault.Envelope[] memory envelopes = new IMedVault.Envelope[](1);
        envelopes[0] = IMedVault.Envelope(patient, _sealed(1));
        vm.prank(doctor);
        vault.addRecord(record, envelopes);
        _snap("addRecordByStaffWithEnvelope");
    }

    function test_gas_addRecordByDevice() public {
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 1);
        record.wrappedKey = "";
        vm.prank(device);
        vault.addRecord(record, _noEnvelopes());
        _snap("addRecordByDevice");
    }

    function test_gas_grant() public {
        _grant(doctor, VITALS_BIT | LABS_BIT, LABS_BIT, EXPIRY);
        _snap("grant");
    }

    function test_gas_grantRecord() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.prank(patient);
        vault.grantRecord(id, doctor, EXPIRY);
        _snap("grantRecord");
    }

    function test_gas_requestAndApprove() public {
        vm.prank(doctor);
        uint256 id = vault.requestAccess(patient, LABS_BIT, 0, 7 days, keccak256("purpose"));
        _snap("requestAccess");
        vm.prank(patient);
        vault.approveRequest(id);
        _snap("approveRequest");
    }

    function test_gas_revoke() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        vm.prank(patient);
        vault.revoke(patient, doctor);
        _snap("revoke");
    }

    function test_gas_publishCategoryKey() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        vm.prank(patient);
        vault.publishCategoryKey(patient, LABS, 0, IMedVault.Envelope(doctor, _sealed(1)));
        _snap("publishCategoryKey");
    }

    function test_gas_publishRecordKey() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.prank(patient);
        vault.publishRecordKey(id, IMedVault.Envelope(doctor, _sealed(1)));
        _snap("publishRecordKey");
    }

    function test_gas_rotateCategoryKey() public {
        vm.prank(patient);
        vault.rotateCategoryKey(patient, LABS, _sealed(1));
        _snap("rotateCategoryKey");
    }

    function test_gas_breakGlass() public {
        vm.prank(responder);
        uint256 caseId = vault.openBreakGlass(patient, keccak256("reason"));
        _snap("openBreakGlass");
        vm.prank(patient);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Justified);
        _snap("closeBreakGlass");
    }

    function test_gas_raiseAlert() public {
        uint256 id = _addRecord(device, patient, VITALS, 1);
        vm.prank(device);
        vault.raiseAlert(id, 3);
        _snap("raiseAlert");
    }

    function test_gas_views() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        uint256 id = _addRecord(patient, patient, LABS, 1);
        assertTrue(vault.hasAccess(patient, doctor, LABS));
        _snap("hasAccess");
        assertTrue(vault.canRead(id, doctor));
        _snap("canRead");
        assertEq(uint8(vault.readBasis(id, doctor)), uint8(IMedVault.ReadBasis.CategoryGrant));
        _snap("readBasis");
    }

    // -- signed ---------------------------------------------------------------------------------------

    function test_gas_registerBySig() public {
        (address someone, uint256 key) = makeAddrAndKey("someone");
        IMedVaultForwarder.Signature memory auth = _sign(key, REGISTER, abi.encode(keccak256(_key(41))));
        forwarder.registerBySig(_key(41), auth);
        _snap("registerBySig (first signature)");
        assertTrue(vault.isPatient(someone));
    }

    function test_gas_addRecordBySig() public {
        IMedVault.RecordInput memory r = _recordInput(patient, LABS, 1);
        bytes memory args = abi.encode(
            r.patient, r.category, keccak256(r.cid), r.ciphertextHash, keccak256(r.wrappedKey), r.epoch, r.amends
        );
        args = bytes.concat(args, abi.encode(keccak256("")));
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, ADD_RECORD, args);
        forwarder.addRecordBySig(r, _noEnvelopes(), auth);
        _snap("addRecordBySig");
    }

    function test_gas_grantBySig() public {
        bytes memory args = abi.encode(patient, doctor, VITALS_BIT | LABS_BIT, LABS_BIT, EXPIRY);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, GRANT, args);
        forwarder.grantBySig(patient, doctor, VITALS_BIT | LABS_BIT, LABS_BIT, EXPIRY, auth);
        _snap("grantBySig");
    }

    function test_gas_revokeBySig() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, REVOKE, abi.encode(patient, doctor));
        forwarder.revokeBySig(patient, doctor, auth);
        _snap("revokeBySig");
    }

    function test_gas_recordGrantsBySig() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, GRANT_RECORD, abi.encode(id, doctor, EXPIRY));
        forwarder.grantRecordBySig(id, doctor, EXPIRY, auth);
        _snap("grantRecordBySig");
        auth = _sign(patientKey, REVOKE_RECORD, abi.encode(id, doctor));
        forwarder.revokeRecordBySig(id, doctor, auth);
        _snap("revokeRecordBySig");
    }

    function test_gas_requestsBySig() public {
        bytes32 purpose = keccak256("purpose");
        IMedVaultForwarder.Signature memory auth =
            _sign(doctorKey, REQUEST_ACCESS, abi.encode(patient, LABS_BIT, uint64(0), uint32(7 days), purpose));
        uint256 id = forwarder.requestAccessBySig(patient, LABS_BIT, 0, 7 days, purpose, auth);
        _snap("requestAccessBySig");
        auth = _sign(patientKey, APPROVE_REQUEST, abi.encode(id));
        forwarder.approveRequestBySig(id, auth);
        _snap("approveRequestBySig");
        vm.prank(doctor);
        id = vault.requestAccess(patient, LABS_BIT, 0, 7 days, purpose);
        auth = _sign(patientKey, DENY_REQUEST, abi.encode(id));
        forwarder.denyRequestBySig(id, auth);
        _snap("denyRequestBySig");
    }

    function test_gas_keysBySig() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        bytes memory sealedKey = _sealed(1);
        IMedVaultForwarder.Signature memory auth =
            _sign(patientKey, PUBLISH_CATEGORY_KEY, abi.encode(patient, LABS, uint32(0), doctor, keccak256(sealedKey)));
        forwarder.publishCategoryKeyBySig(patient, LABS, 0, IMedVault.Envelope(doctor, sealedKey), auth);
        _snap("publishCategoryKeyBySig");
        uint256 id = _addRecord(patient, patient, LABS, 1);
        auth = _sign(patientKey, PUBLISH_RECORD_KEY, abi.encode(id, doctor, keccak256(sealedKey)));
        forwarder.publishRecordKeyBySig(id, IMedVault.Envelope(doctor, sealedKey), auth);
        _snap("publishRecordKeyBySig");
        auth = _sign(patientKey, ROTATE_CATEGORY_KEY, abi.encode(patient, LABS, keccak256(sealedKey)));
        forwarder.rotateCategoryKeyBySig(patient, LABS, sealedKey, auth);
        _snap("rotateCategoryKeyBySig");
    }

    function test_gas_breakGlassBySig() public {
        bytes32 reason = keccak256("reason");
        IMedVaultForwarder.Signature memory auth = _sign(responderKey, OPEN_BREAK_GLASS, abi.encode(patient, reason));
        uint256 caseId = forwarder.openBreakGlassBySig(patient, reason, auth);
        _snap("openBreakGlassBySig");
        auth = _sign(hospitalKey, CLOSE_BREAK_GLASS, abi.encode(caseId, IMedVault.Verdict.Justified));
        forwarder.closeBreakGlassBySig(caseId, IMedVault.Verdict.Justified, auth);
        _snap("closeBreakGlassBySig");
    }

    function test_gas_raiseAlertBySig() public {
        uint256 id = _addRecord(device, patient, VITALS, 1);
        IMedVaultForwarder.Signature memory auth = _sign(deviceKey, RAISE_ALERT, abi.encode(id, uint8(3)));
        forwarder.raiseAlertBySig(id, 3, auth);
        _snap("raiseAlertBySig (device's first signature)");
    }

    function test_gas_identitiesBySig() public {
        address newStaff = makeAddr("newStaff");
        IMedVaultForwarder.Signature memory auth =
            _sign(hospitalKey, ADD_STAFF, abi.encode(newStaff, IMedVault.Role.Nurse, LICENCE_EXPIRY));
        forwarder.addStaffBySig(newStaff, IMedVault.Role.Nurse, LICENCE_EXPIRY, auth);
        _snap("addStaffBySig");
        auth = _sign(hospitalKey, REMOVE_STAFF, abi.encode(newStaff));
        forwarder.removeStaffBySig(newStaff, auth);
        _snap("removeStaffBySig");
        auth = _sign(patientKey, SET_ENCRYPTION_KEY, abi.encode(keccak256(_key(42))));
        forwarder.setEncryptionKeyBySig(_key(42), auth);
        _snap("setEncryptionKeyBySig");
    }

    function test_gas_patientSettingsBySig() public {
        address other = makeAddr("other");
        _setKey(other, 43);
        IMedVaultForwarder.Signature memory auth = _sign(patientKey, SET_GUARDIAN, abi.encode(other, uint8(2)));
        forwarder.setGuardianBySig(other, 2, auth);
        _snap("setGuardianBySig");
        auth = _sign(patientKey, REMOVE_GUARDIAN, abi.encode(other));
        forwarder.removeGuardianBySig(other, auth);
        _snap("removeGuardianBySig");
        address sensor = makeAddr("sensor");
        auth = _sign(patientKey, ADD_DEVICE, abi.encode(sensor, VITALS));
        forwarder.addDeviceBySig(sensor, VITALS, auth);
        _snap("addDeviceBySig");
        auth = _sign(patientKey, REMOVE_DEVICE, abi.encode(sensor));
        forwarder.removeDeviceBySig(sensor, auth);
        _snap("removeDeviceBySig");
        auth = _sign(patientKey, SET_EMERGENCY_CUSTODIAN, abi.encode(other));
        forwarder.setEmergencyCustodianBySig(other, auth);
        _snap("setEmergencyCustodianBySig");
    }

    // -- no growth ------------------------------------------------------------------------------------

    /// @dev Grant and add-record cost the same (within 5%) with 1 and with 1,000 grants and records before them.
    function test_gas_grantAndAddRecordDoNotGrow() public {
        (uint256 grantAfterOne, uint256 recordAfterOne) = _grantAndRecordAfter(1);
        (uint256 grantAfterThousand, uint256 recordAfterThousand) = _grantAndRecordAfter(1000);
        assertApproxEqRel(grantAfterThousand, grantAfterOne, 0.05e18);
        assertApproxEqRel(recordAfterThousand, recordAfterOne, 0.05e18);
    }

    function _grantAndRecordAfter(uint256 existing) internal returns (uint256 grantGas, uint256 recordGas) {
        uint256 snapshot = vm.snapshotState();
        for (uint256 i; i < existing; ++i) {
            address member = address(uint160(0x10000 + i));
            vm.prank(hospital);
            vault.addStaff(member, IMedVault.Role.Nurse, LICENCE_EXPIRY);
            _grant(member, LABS_BIT, 0, EXPIRY);
            _addRecord(patient, patient, LABS, i);
        }
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        grantGas = vm.lastCallGas().gasTotalUsed;
        _addRecord(patient, patient, LABS, existing + 1);
        recordGas = vm.lastCallGas().gasTotalUsed;
        vm.revertToState(snapshot);
    }
}
