// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IMedVault} from "../src/interfaces/IMedVault.sol";
import {MedVaultTest} from "./utils/MedVaultTest.sol";

/// @notice Record headers, amendments, record-level envelopes and alerts.
contract RecordsTest is MedVaultTest {
    function test_addRecord_byPatient() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        uint256 expectedId = (uint256(uint160(patient)) << 96) | (uint256(LABS) << 88) | 1;
        vm.expectEmit(address(vault));
        emit IMedVault.RecordAdded(expectedId, patient, patient, record);
        vm.prank(patient);
        uint256 id = vault.addRecord(record, _noEnvelopes());
        assertEq(id, expectedId);
        assertEq(vault.recordCount(patient), 1);
        assertTrue(vault.verifyRecord(id, record.cid, record.ciphertextHash));
        assertFalse(vault.verifyRecord(id, record.cid, bytes32(uint256(record.ciphertextHash) ^ 1)));
        assertFalse(vault.verifyRecord(id, _cid(2), record.ciphertextHash));
        assertFalse(vault.verifyRecord(id + 1, record.cid, record.ciphertextHash));
    }

    function test_addRecord_byStaffWithWriteGrant() public {
        _grant(doctor, LABS_BIT, LABS_BIT, EXPIRY);
        uint256 id = _addRecord(doctor, patient, LABS, 1);
        assertTrue(vault.verifyRecord(id, _cid(1), _ciphertextHash(1)));
    }

    function test_addRecord_byDevice() public {
        uint256 id = _addRecord(device, patient, VITALS, 1);
        assertTrue(vault.verifyRecord(id, _cid(1), _ciphertextHash(1)));
    }

    function test_addRecord_revertsForNonPatient() public {
        IMedVault.RecordInput memory record = _recordInput(stranger, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(stranger);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_addRecord_revertsForInvalidCategory() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.category = 64;
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCategory.selector, 64));
        vm.prank(patient);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_addRecord_revertsForReadOnlyOrLapsedGrant() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, doctor, patient, LABS));
        vm.prank(doctor);
        vault.addRecord(record, _noEnvelopes());

        _grant(doctor, LABS_BIT, LABS_BIT, EXPIRY);
        vm.warp(EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, doctor, patient, LABS));
        vm.prank(doctor);
        vault.addRecord(record, _noEnvelopes());
        assertEq(vault.recordCount(patient), 0);
    }

    function test_addRecord_revertsForDeviceOutsideItsCategoryOrPatient() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, device, patient, LABS));
        vm.prank(device);
        vault.addRecord(record, _noEnvelopes());

        address other = makeAddr("otherPatient");
        vm.prank(other);
        vault.register(_key(5));
        record = _recordInput(other, VITALS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, device, other, VITALS));
        vm.prank(device);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_addRecord_revertsForCidLength() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        vm.startPrank(patient);
        record.cid = new bytes(33);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCid.selector, 33));
        vault.addRecord(record, _noEnvelopes());
        record.cid = new bytes(65);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCid.selector, 65));
        vault.addRecord(record, _noEnvelopes());
        record.cid = new bytes(34);
        vault.addRecord(record, _noEnvelopes());
        vm.stopPrank();
    }

    function test_addRecord_revertsForWrappedKeyLength() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.wrappedKey = new bytes(129);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidWrappedKey.selector, 129));
        vm.prank(patient);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_addRecord_revertsForStaleEpoch() public {
        vm.prank(patient);
        vault.rotateCategoryKey(patient, LABS, _sealed(1));
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.epoch = 0;
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaleEpoch.selector, 0, 1));
        vm.prank(patient);
        vault.addRecord(record, _noEnvelopes());
        record.epoch = 1;
        vm.prank(patient);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_addRecord_amendsARecord() public {
        uint256 first = _addRecord(patient, patient, LABS, 1);
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 2);
        record.amends = first;
        vm.prank(patient);
        uint256 second = vault.addRecord(record, _noEnvelopes());
        assertTrue(vault.verifyRecord(first, _cid(1), _ciphertextHash(1)));
        assertTrue(vault.verifyRecord(second, _cid(2), _ciphertextHash(2)));
    }

    function test_addRecord_revertsForInvalidAmendment() public {
        uint256 labs = _addRecord(patient, patient, LABS, 1);
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 2);
        vm.startPrank(patient);
        record.amends = labs;
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidAmendment.selector, labs));
        vault.addRecord(record, _noEnvelopes());
        record.category = LABS;
        record.amends = labs + 1;
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidAmendment.selector, labs + 1));
        vault.addRecord(record, _noEnvelopes());
        vm.stopPrank();
    }

    function test_addRecord_publishesRecordEnvelopes() public {
        _grant(doctor, LABS_BIT, LABS_BIT, EXPIRY);
        _grant(nurse, LABS_BIT, 0, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.wrappedKey = "";
        IMedVault.Envelope[] memory envelopes = new IMedVault.Envelope[](2);
        envelopes[0] = IMedVault.Envelope({recipient: patient, sealedKey: _sealed(1)});
        envelopes[1] = IMedVault.Envelope({recipient: nurse, sealedKey: _sealed(2)});
        uint256 expectedId = (uint256(uint160(patient)) << 96) | (uint256(LABS) << 88) | 1;
        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(expectedId, patient, doctor, _sealed(1));
        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(expectedId, nurse, doctor, _sealed(2));
        vm.prank(doctor);
        vault.addRecord(record, envelopes);
    }

    function test_addRecord_revertsForUnentitledEnvelopeRecipient() public {
        _grant(doctor, LABS_BIT, LABS_BIT, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        record.wrappedKey = "";
        IMedVault.Envelope[] memory envelopes = new IMedVault.Envelope[](1);
        envelopes[0] = IMedVault.Envelope({recipient: nurse, sealedKey: _sealed(1)});
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, nurse));
        vm.prank(doctor);
        vault.addRecord(record, envelopes);
        assertEq(vault.recordCount(patient), 0);
    }

    function test_addRecord_revertsForTooManyEnvelopes() public {
        IMedVault.RecordInput memory record = _recordInput(patient, LABS, 1);
        IMedVault.Envelope[] memory envelopes = new IMedVault.Envelope[](17);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.TooManyEnvelopes.selector, 17));
        vm.prank(patient);
        vault.addRecord(record, envelopes);
    }

    function testFuzz_addRecord_idsAreUniqueAndHeadersFixed(uint8 count, uint8 category) public {
        count = uint8(bound(count, 1, 20));
        category = uint8(bound(category, 0, 63));
        uint256 previous;
        for (uint256 i = 1; i <= count; ++i) {
            uint256 id = _addRecord(patient, patient, category, i);
            assertGt(id, previous);
            previous = id;
        }
        for (uint256 i = 1; i <= count; ++i) {
            uint256 id = (uint256(uint160(patient)) << 96) | (uint256(category) << 88) | i;
            assertTrue(vault.verifyRecord(id, _cid(i), _ciphertextHash(i)));
        }
        assertEq(vault.recordCount(patient), count);
    }

    // -- alerts ---------------------------------------------------------------------------------------

    function test_raiseAlert_byDevice() public {
        uint256 id = _addRecord(device, patient, VITALS, 1);
        vm.expectEmit(address(vault));
        emit IMedVault.AlertRaised(patient, id, device, 3);
        vm.prank(device);
        vault.raiseAlert(id, 3);
    }

    function test_raiseAlert_byStaffWithWriteGrant() public {
        _grant(doctor, VITALS_BIT, VITALS_BIT, EXPIRY);
        uint256 id = _addRecord(device, patient, VITALS, 1);
        vm.expectEmit(address(vault));
        emit IMedVault.AlertRaised(patient, id, doctor, 1);
        vm.prank(doctor);
        vault.raiseAlert(id, 1);
    }

    function test_raiseAlert_revertsForUnknownRecord() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownRecord.selector, 5));
        vm.prank(device);
        vault.raiseAlert(5, 1);
    }

    function test_raiseAlert_revertsForSeverity() public {
        uint256 id = _addRecord(device, patient, VITALS, 1);
        vm.startPrank(device);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidSeverity.selector, 0));
        vault.raiseAlert(id, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidSeverity.selector, 4));
        vault.raiseAlert(id, 4);
        vm.stopPrank();
    }

    function test_raiseAlert_revertsForReader() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        uint256 id = _addRecord(device, patient, VITALS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, doctor, patient, VITALS));
        vm.prank(doctor);
        vault.raiseAlert(id, 2);
    }
}
