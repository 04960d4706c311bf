// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IMedVault} from "../src/interfaces/IMedVault.sol";
import {MedVaultTest} from "./utils/MedVaultTest.sol";

/// @notice Category grants, record grants, requests and the access views.
contract ConsentTest is MedVaultTest {
    // -- grant ----------------------------------------------------------------------------------------

    function test_grant_setsScopeAndExpiry() public {
        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, patient, VITALS_BIT | LABS_BIT, LABS_BIT, EXPIRY);
        _grant(doctor, VITALS_BIT | LABS_BIT, LABS_BIT, EXPIRY);
        IMedVault.Grant memory g = vault.grantOf(patient, doctor);
        assertEq(g.readMask, VITALS_BIT | LABS_BIT);
        assertEq(g.writeMask, LABS_BIT);
        assertEq(g.expiry, EXPIRY);
        assertEq(g.grantedAt, START);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
        assertTrue(vault.hasAccess(patient, doctor, LABS));
        assertFalse(vault.hasAccess(patient, doctor, EMERGENCY));
    }

    function test_grant_byManageGuardian() public {
        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, guardian, VITALS_BIT, 0, EXPIRY);
        vm.prank(guardian);
        vault.grant(patient, doctor, VITALS_BIT, 0, EXPIRY);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_grant_replacesEarlierGrant() public {
        _grant(doctor, VITALS_BIT | LABS_BIT, 0, EXPIRY);
        _grant(doctor, LABS_BIT, 0, EXPIRY + 1);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        assertEq(vault.grantOf(patient, doctor).expiry, EXPIRY + 1);
    }

    function test_grant_revertsForNonManager() public {
        vm.prank(patient);
        vault.setGuardian(guardian, 2); // read only
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, guardian, patient));
        vm.prank(guardian);
        vault.grant(patient, doctor, VITALS_BIT, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, doctor, patient));
        vm.prank(doctor);
        vault.grant(patient, doctor, VITALS_BIT, 0, EXPIRY);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_grant_revertsForInvalidScope() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidScope.selector, 0, 0));
        vault.grant(patient, doctor, 0, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidScope.selector, VITALS_BIT, LABS_BIT));
        vault.grant(patient, doctor, VITALS_BIT, LABS_BIT, EXPIRY);
        vm.stopPrank();
    }

    function test_grant_revertsForPastExpiry() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidExpiry.selector, START));
        _grant(doctor, VITALS_BIT, 0, START);
    }

    function test_grant_toNonStaffNeverHolds() public {
        _grant(stranger, VITALS_BIT, 0, EXPIRY);
        assertFalse(vault.hasAccess(patient, stranger, VITALS));
        // Made staff later: the grant predates the membership and stays dead.
        vm.warp(START + 1);
        vm.prank(hospital);
        vault.addStaff(stranger, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        assertFalse(vault.hasAccess(patient, stranger, VITALS));
        _grant(stranger, VITALS_BIT, 0, EXPIRY);
        assertTrue(vault.hasAccess(patient, stranger, VITALS));
    }

    function test_grant_expiresExactlyAtExpiry() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.warp(EXPIRY - 1);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
        vm.warp(EXPIRY);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        vm.warp(EXPIRY + 1);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    function testFuzz_grant_accessMatchesScopeAndTime(uint64 readMask, uint64 writeMask, uint40 expiry, uint40 when)
        public
    {
        readMask = readMask | 1;
        writeMask = writeMask & readMask;
        expiry = uint40(bound(expiry, START + 1, LICENCE_EXPIRY * 2));
        _grant(doctor, readMask, writeMask, expiry);
        vm.warp(bound(when, START, LICENCE_EXPIRY * 2));
        bool live = block.timestamp < expiry && block.timestamp < LICENCE_EXPIRY;
        for (uint8 c; c <= 63; ++c) {
            assertEq(vault.hasAccess(patient, doctor, c), live && (readMask >> c) & 1 == 1);
        }
    }

    // -- revoke ---------------------------------------------------------------------------------------

    function test_revoke_cutsAccess() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.expectEmit(address(vault));
        emit IMedVault.Revoked(patient, doctor, patient);
        vm.prank(patient);
        vault.revoke(patient, doctor);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        assertEq(vault.grantOf(patient, doctor).readMask, 0);
    }

    function test_revoke_byManageGuardian() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.prank(guardian);
        vault.revoke(patient, doctor);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_revoke_revertsForNonManager() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, stranger, patient));
        vm.prank(stranger);
        vault.revoke(patient, doctor);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_revoke_revertsWithoutGrant() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NoGrant.selector, patient, doctor));
        vm.prank(patient);
        vault.revoke(patient, doctor);
    }

    // -- record grants --------------------------------------------------------------------------------

    function test_grantRecord_letsReadOneRecord() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        uint256 other = _addRecord(patient, patient, LABS, 2);
        vm.expectEmit(address(vault));
        emit IMedVault.RecordGranted(id, doctor, patient, EXPIRY);
        vm.prank(patient);
        vault.grantRecord(id, doctor, EXPIRY);
        assertTrue(vault.canRead(id, doctor));
        assertFalse(vault.canRead(other, doctor));
        assertFalse(vault.hasAccess(patient, doctor, LABS));
        assertEq(vault.recordGrantExpiry(id, doctor), EXPIRY);
        vm.warp(EXPIRY);
        assertFalse(vault.canRead(id, doctor));
    }

    function test_grantRecord_revertsForUnknownRecord() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownRecord.selector, 42));
        vm.prank(patient);
        vault.grantRecord(42, doctor, EXPIRY);
    }

    function test_grantRecord_revertsForNonManager() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, doctor, patient));
        vm.prank(doctor);
        vault.grantRecord(id, doctor, EXPIRY);
    }

    function test_grantRecord_revertsForPastExpiry() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidExpiry.selector, START));
        vm.prank(patient);
        vault.grantRecord(id, doctor, START);
    }

    function test_grantRecord_toNonStaffNeverHolds() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.prank(patient);
        vault.grantRecord(id, stranger, EXPIRY);
        assertFalse(vault.canRead(id, stranger));
        vm.warp(START + 1);
        vm.prank(hospital);
        vault.addStaff(stranger, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        assertFalse(vault.canRead(id, stranger));
    }

    function test_revokeRecord_cutsAccess() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.startPrank(patient);
        vault.grantRecord(id, doctor, EXPIRY);
        vm.expectEmit(address(vault));
        emit IMedVault.RecordRevoked(id, doctor, patient);
        vault.revokeRecord(id, doctor);
        vm.stopPrank();
        assertFalse(vault.canRead(id, doctor));
    }

    function test_revokeRecord_revertsForNonManager() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.prank(patient);
        vault.grantRecord(id, doctor, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, doctor, patient));
        vm.prank(doctor);
        vault.revokeRecord(id, doctor);
    }

    function test_revokeRecord_revertsWithoutGrant() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NoRecordGrant.selector, id, doctor));
        vm.prank(patient);
        vault.revokeRecord(id, doctor);
    }

    // -- requests -------------------------------------------------------------------------------------

    function _request() internal returns (uint256) {
        vm.prank(doctor);
        return vault.requestAccess(patient, VITALS_BIT | LABS_BIT, LABS_BIT, 7 days, keccak256("purpose"));
    }

    function test_requestAccess_storesPendingRequest() public {
        vm.expectEmit(address(vault));
        emit IMedVault.AccessRequested(
            1, patient, doctor, VITALS_BIT | LABS_BIT, LABS_BIT, 7 days, keccak256("purpose")
        );
        uint256 id = _request();
        IMedVault.Request memory r = vault.request(id);
        assertEq(id, 1);
        assertEq(r.patient, patient);
        assertEq(r.staff, doctor);
        assertEq(uint8(r.status), uint8(IMedVault.RequestStatus.Pending));
        assertEq(r.duration, 7 days);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_requestAccess_revertsForNonStaff() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotStaff.selector, stranger));
        vm.prank(stranger);
        vault.requestAccess(patient, VITALS_BIT, 0, 1 days, 0);
    }

    function test_requestAccess_revertsForSuspendedOrganisation() public {
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotStaff.selector, doctor));
        vm.prank(doctor);
        vault.requestAccess(patient, VITALS_BIT, 0, 1 days, 0);
    }

    function test_requestAccess_revertsForNonPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(doctor);
        vault.requestAccess(stranger, VITALS_BIT, 0, 1 days, 0);
    }

    function test_requestAccess_revertsForInvalidScope() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidScope.selector, VITALS_BIT, LABS_BIT));
        vm.prank(doctor);
        vault.requestAccess(patient, VITALS_BIT, LABS_BIT, 1 days, 0);
    }

    function test_requestAccess_revertsForInvalidDuration() public {
        vm.startPrank(doctor);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidDuration.selector, 0));
        vault.requestAccess(patient, VITALS_BIT, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidDuration.selector, 3651 days));
        vault.requestAccess(patient, VITALS_BIT, 0, 3651 days, 0);
        vm.stopPrank();
    }

    function test_approveRequest_createsGrant() public {
        uint256 id = _request();
        vm.warp(START + 100);
        vm.expectEmit(address(vault));
        emit IMedVault.RequestApproved(id, patient, doctor, START + 100 + 7 days);
        vm.expectEmit(address(vault));
        emit IMedVault.Granted(patient, doctor, patient, VITALS_BIT | LABS_BIT, LABS_BIT, START + 100 + 7 days);
        vm.prank(patient);
        vault.approveRequest(id);
        assertEq(uint8(vault.request(id).status), uint8(IMedVault.RequestStatus.Approved));
        assertTrue(vault.hasAccess(patient, doctor, LABS));
        vm.warp(START + 100 + 7 days);
        assertFalse(vault.hasAccess(patient, doctor, LABS));
    }

    function test_approveRequest_byManageGuardian() public {
        uint256 id = _request();
        vm.prank(guardian);
        vault.approveRequest(id);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_approveRequest_revertsForUnknownRequest() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownRequest.selector, 9));
        vm.prank(patient);
        vault.approveRequest(9);
    }

    function test_approveRequest_revertsForNonManager() public {
        uint256 id = _request();
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, doctor, patient));
        vm.prank(doctor);
        vault.approveRequest(id);
    }

    function test_approveRequest_revertsOnceAnswered() public {
        uint256 id = _request();
        vm.startPrank(patient);
        vault.approveRequest(id);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.RequestAnswered.selector, id));
        vault.approveRequest(id);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.RequestAnswered.selector, id));
        vault.denyRequest(id);
        vm.stopPrank();
    }

    function test_approveRequest_revertsForRemovedStaff() public {
        uint256 id = _request();
        vm.prank(hospital);
        vault.removeStaff(doctor);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotStaff.selector, doctor));
        vm.prank(patient);
        vault.approveRequest(id);
    }

    function test_denyRequest_answersWithoutGrant() public {
        uint256 id = _request();
        vm.expectEmit(address(vault));
        emit IMedVault.RequestDenied(id, patient, doctor);
        vm.prank(patient);
        vault.denyRequest(id);
        assertEq(uint8(vault.request(id).status), uint8(IMedVault.RequestStatus.Denied));
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.RequestAnswered.selector, id));
        vm.prank(patient);
        vault.approveRequest(id);
    }

    function test_denyRequest_revertsForUnknownRequest() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.UnknownRequest.selector, 3));
        vm.prank(patient);
        vault.denyRequest(3);
    }

    function test_denyRequest_revertsForNonManager() public {
        uint256 id = _request();
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, stranger, patient));
        vm.prank(stranger);
        vault.denyRequest(id);
    }

    // -- views ----------------------------------------------------------------------------------------

    function test_hasAccess_patientAndReadGuardianOnly() public {
        assertTrue(vault.hasAccess(patient, patient, LABS));
        assertTrue(vault.hasAccess(patient, guardian, LABS));
        vm.prank(patient);
        vault.setGuardian(guardian, 1); // manage only
        assertFalse(vault.hasAccess(patient, guardian, LABS));
        assertFalse(vault.hasAccess(patient, stranger, LABS));
        assertFalse(vault.hasAccess(patient, patient, 64));
    }

    function test_canRead_unknownRecordIsFalse() public view {
        assertFalse(vault.canRead(12_345, patient));
    }

    function test_readBasis_namesTheGroundsCanReadFollows() public {
        uint256 labs = _addRecord(patient, patient, LABS, 1);
        uint256 emergency = _addRecord(patient, patient, EMERGENCY, 2);
        assertEq(uint8(vault.readBasis(12_345, patient)), uint8(IMedVault.ReadBasis.None));
        assertEq(uint8(vault.readBasis(labs, patient)), uint8(IMedVault.ReadBasis.Patient));
        assertEq(uint8(vault.readBasis(labs, guardian)), uint8(IMedVault.ReadBasis.Guardian));
        assertEq(uint8(vault.readBasis(labs, stranger)), uint8(IMedVault.ReadBasis.None));
        assertEq(uint8(vault.readBasis(labs, doctor)), uint8(IMedVault.ReadBasis.None));
        vm.prank(patient);
        vault.grantRecord(labs, doctor, EXPIRY);
        assertEq(uint8(vault.readBasis(labs, doctor)), uint8(IMedVault.ReadBasis.RecordGrant));
        // A category grant comes before a grant on the record.
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        assertEq(uint8(vault.readBasis(labs, doctor)), uint8(IMedVault.ReadBasis.CategoryGrant));
        assertEq(uint8(vault.readBasis(emergency, doctor)), uint8(IMedVault.ReadBasis.None));
        vm.prank(responder);
        vault.openBreakGlass(patient, keccak256("unconscious on arrival"));
        assertEq(uint8(vault.readBasis(emergency, responder)), uint8(IMedVault.ReadBasis.Emergency));
        assertEq(uint8(vault.readBasis(labs, responder)), uint8(IMedVault.ReadBasis.None));
        // A suspended organisation's staff read on no grounds.
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        assertEq(uint8(vault.readBasis(labs, doctor)), uint8(IMedVault.ReadBasis.None));
        assertFalse(vault.canRead(labs, doctor));
    }

    function test_canRead_followsCategoryGrant() public {
        uint256 id = _addRecord(patient, patient, LABS, 1);
        assertFalse(vault.canRead(id, doctor));
        _grant(doctor, LABS_BIT, 0, EXPIRY);
        assertTrue(vault.canRead(id, doctor));
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        assertFalse(vault.canRead(id, doctor));
    }
}
