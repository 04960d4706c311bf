// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IMedVault} from "../src/interfaces/IMedVault.sol";
import {MedVaultTest} from "./utils/MedVaultTest.sol";

/// @notice Category-key and record-key envelopes, key rotation, and break-glass emergency access.
contract KeysAndBreakGlassTest is MedVaultTest {
    function _envelope(address recipient, uint256 seed) internal pure returns (IMedVault.Envelope memory) {
        return IMedVault.Envelope({recipient: recipient, sealedKey: _sealed(seed)});
    }

    function _breakGlass() internal returns (uint256) {
        vm.prank(responder);
        return vault.openBreakGlass(patient, keccak256("unconscious on arrival"));
    }

    // -- category keys --------------------------------------------------------------------------------

    function test_publishCategoryKey_toGrantee() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        vm.expectEmit(address(vault));
        emit IMedVault.CategoryKeyPublished(patient, doctor, LABS, 0, patient, _sealed(1));
        vm.prank(patient);
        vault.publishCategoryKey(patient, LABS, 0, _envelope(doctor, 1));
    }

    function test_publishCategoryKey_toSelfGuardianAndCustodian() public {
        vm.startPrank(guardian);
        vault.publishCategoryKey(patient, LABS, 0, _envelope(patient, 1));
        vault.publishCategoryKey(patient, LABS, 0, _envelope(guardian, 2));
        vault.publishCategoryKey(patient, EMERGENCY, 0, _envelope(custodian, 3));
        vm.stopPrank();
    }

    function test_publishCategoryKey_revertsForNonPublisher() public {
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPublisher.selector, doctor, patient));
        vm.prank(doctor);
        vault.publishCategoryKey(patient, LABS, 0, _envelope(doctor, 1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPublisher.selector, custodian, patient));
        vm.prank(custodian);
        vault.publishCategoryKey(patient, LABS, 0, _envelope(doctor, 1));
    }

    function test_publishCategoryKey_revertsForUnentitledRecipient() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, doctor));
        vault.publishCategoryKey(patient, LABS, 0, _envelope(doctor, 1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, custodian));
        vault.publishCategoryKey(patient, LABS, 0, _envelope(custodian, 1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, stranger));
        vault.publishCategoryKey(patient, LABS, 0, _envelope(stranger, 1));
        vm.stopPrank();
    }

    function test_publishCategoryKey_revertsForRecipientWithoutKey() public {
        address keyless = makeAddr("keyless");
        vm.prank(hospital);
        vault.addStaff(keyless, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        _grant(keyless, LABS_BIT, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.MissingEncryptionKey.selector, keyless));
        vm.prank(patient);
        vault.publishCategoryKey(patient, LABS, 0, _envelope(keyless, 1));
    }

    function test_publishCategoryKey_revertsForStaleEpoch() public {
        vm.startPrank(patient);
        vault.rotateCategoryKey(patient, LABS, _sealed(9));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaleEpoch.selector, 0, 1));
        vault.publishCategoryKey(patient, LABS, 0, _envelope(patient, 1));
        vault.publishCategoryKey(patient, LABS, 1, _envelope(patient, 1));
        vm.stopPrank();
    }

    function test_publishCategoryKey_revertsForSealedKeyLength() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidSealedKey.selector, 0));
        vault.publishCategoryKey(patient, LABS, 0, IMedVault.Envelope(patient, ""));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidSealedKey.selector, 257));
        vault.publishCategoryKey(patient, LABS, 0, IMedVault.Envelope(patient, new bytes(257)));
        vm.stopPrank();
    }

    function test_publishCategoryKey_revertsForInvalidCategory() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCategory.selector, 64));
        vm.prank(patient);
        vault.publishCategoryKey(patient, 64, 0, _envelope(patient, 1));
    }

    // -- record keys ----------------------------------------------------------------------------------

    function test_publishRecordKey_toRecordGrantee() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.prank(patient);
        vault.grantRecord(id, doctor, EXPIRY);
        vm.expectEmit(address(vault));
        emit IMedVault.RecordKeyPublished(id, doctor, patient, _sealed(1));
        vm.prank(patient);
        vault.publishRecordKey(id, _envelope(doctor, 1));
    }

    function test_publishRecordKey_revertsForUnknownRecord() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownRecord.selector, 1));
        vm.prank(patient);
        vault.publishRecordKey(1, _envelope(patient, 1));
    }

    function test_publishRecordKey_revertsForNonPublisher() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPublisher.selector, stranger, patient));
        vm.prank(stranger);
        vault.publishRecordKey(id, _envelope(patient, 1));
    }

    function test_publishRecordKey_revertsForUnentitledRecipient() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, doctor));
        vm.prank(patient);
        vault.publishRecordKey(id, _envelope(doctor, 1));
    }

    function test_publishRecordKey_custodianOnlyToBreakGlassStaff() public {
        uint256 id = _addRecord(patient, patient, EMERGENCY, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, responder));
        vm.prank(custodian);
        vault.publishRecordKey(id, _envelope(responder, 1));
        _breakGlass();
        vm.prank(custodian);
        vault.publishRecordKey(id, _envelope(responder, 1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, patient));
        vm.prank(custodian);
        vault.publishRecordKey(id, _envelope(patient, 1));
    }

    // -- rotation -------------------------------------------------------------------------------------

    function test_rotateCategoryKey_startsNewEpoch() public {
        vm.expectEmit(address(vault));
        emit IMedVault.CategoryKeyRotated(patient, LABS, 1, patient, _sealed(1));
        vm.prank(patient);
        assertEq(vault.rotateCategoryKey(patient, LABS, _sealed(1)), 1);
        vm.prank(guardian);
        assertEq(vault.rotateCategoryKey(patient, LABS, _sealed(2)), 2);
        assertEq(vault.categoryEpoch(patient, LABS), 2);
        assertEq(vault.categoryEpoch(patient, VITALS), 0);
    }

    function test_rotateCategoryKey_revertsForNonManager() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, doctor, patient));
        vm.prank(doctor);
        vault.rotateCategoryKey(patient, LABS, _sealed(1));
    }

    function test_rotateCategoryKey_revertsForBadInput() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCategory.selector, 200));
        vault.rotateCategoryKey(patient, 200, _sealed(1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidSealedKey.selector, 0));
        vault.rotateCategoryKey(patient, LABS, "");
        vm.stopPrank();
        assertEq(vault.categoryEpoch(patient, LABS), 0);
    }

    // -- break-glass ----------------------------------------------------------------------------------

    function test_openBreakGlass_grantsTimeBoxedEmergencyAccess() public {
        vm.expectEmit(address(vault));
        emit IMedVault.BreakGlassOpened(
            1, patient, hospital, responder, keccak256("unconscious on arrival"), START + 12 hours
        );
        uint256 caseId = _breakGlass();
        assertEq(caseId, 1);
        assertTrue(vault.hasAccess(patient, responder, EMERGENCY));
        assertFalse(vault.hasAccess(patient, responder, LABS));
        assertEq(vault.staff(responder).openCases, 1);
        vm.warp(START + 12 hours - 1);
        assertTrue(vault.hasAccess(patient, responder, EMERGENCY));
        vm.warp(START + 12 hours);
        assertFalse(vault.hasAccess(patient, responder, EMERGENCY));
        // Lapsed but unreviewed: it still counts.
        assertEq(vault.staff(responder).openCases, 1);
    }

    function test_openBreakGlass_custodianPublishesEmergencyKey() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEntitled.selector, responder));
        vm.prank(custodian);
        vault.publishCategoryKey(patient, EMERGENCY, 0, _envelope(responder, 1));
        _breakGlass();
        vm.expectEmit(address(vault));
        emit IMedVault.CategoryKeyPublished(patient, responder, EMERGENCY, 0, custodian, _sealed(1));
        vm.prank(custodian);
        vault.publishCategoryKey(patient, EMERGENCY, 0, _envelope(responder, 1));
    }

    function test_openBreakGlass_revertsForNonEmergencyStaff() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEmergencyStaff.selector, doctor));
        vm.prank(doctor);
        vault.openBreakGlass(patient, 0);
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotEmergencyStaff.selector, responder));
        vm.prank(responder);
        vault.openBreakGlass(patient, 0);
    }

    function test_openBreakGlass_revertsForNonPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(responder);
        vault.openBreakGlass(stranger, 0);
    }

    function test_openBreakGlass_revertsWhileOpen() public {
        _breakGlass();
        vm.expectRevert(abi.encodeWithSelector(IMedVault.EmergencyAccessOpen.selector, patient, responder));
        _breakGlass();
    }

    function test_openBreakGlass_revertsWithTooManyOpenCases() public {
        for (uint256 i; i < 3; ++i) {
            address p = makeAddr(string.concat("p", vm.toString(i)));
            vm.prank(p);
            vault.register(_key(100 + i));
            vm.prank(responder);
            vault.openBreakGlass(p, 0);
        }
        vm.expectRevert(abi.encodeWithSelector(IMedVault.TooManyOpenCases.selector, responder, 3));
        _breakGlass();
        // A review frees a slot.
        vm.prank(hospital);
        vault.closeBreakGlass(1, IMedVault.Verdict.Justified);
        _breakGlass();
    }

    function test_closeBreakGlass_byPatientEndsAccess() public {
        uint256 caseId = _breakGlass();
        vm.expectEmit(address(vault));
        emit IMedVault.BreakGlassClosed(caseId, patient, hospital, responder, IMedVault.Verdict.Abuse, patient);
        vm.prank(patient);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Abuse);
        assertFalse(vault.hasAccess(patient, responder, EMERGENCY));
        assertEq(vault.staff(responder).openCases, 0);
        assertEq(uint8(vault.emergencyCase(caseId).verdict), uint8(IMedVault.Verdict.Abuse));
    }

    function test_closeBreakGlass_byOrganisation() public {
        uint256 caseId = _breakGlass();
        vm.prank(hospital);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Justified);
        assertEq(uint8(vault.emergencyCase(caseId).verdict), uint8(IMedVault.Verdict.Justified));
    }

    function test_closeBreakGlass_revertsForUnknownCase() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownCase.selector, 7));
        vm.prank(patient);
        vault.closeBreakGlass(7, IMedVault.Verdict.Justified);
    }

    function test_closeBreakGlass_revertsOnceReviewed() public {
        uint256 caseId = _breakGlass();
        vm.prank(patient);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Justified);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.CaseReviewed.selector, caseId));
        vm.prank(hospital);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Abuse);
    }

    function test_closeBreakGlass_revertsForVerdictNone() public {
        uint256 caseId = _breakGlass();
        vm.expectRevert(IMedVault.InvalidVerdict.selector);
        vm.prank(patient);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.None);
    }

    function test_closeBreakGlass_revertsForOthers() public {
        uint256 caseId = _breakGlass();
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotReviewer.selector, responder, caseId));
        vm.prank(responder);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Justified);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotReviewer.selector, otherHospital, caseId));
        vm.prank(otherHospital);
        vault.closeBreakGlass(caseId, IMedVault.Verdict.Justified);
    }
}
