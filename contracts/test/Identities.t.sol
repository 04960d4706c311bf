// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {IMedVault} from "../src/interfaces/IMedVault.sol";
import {MedVaultTest} from "./utils/MedVaultTest.sol";

/// @notice Governance, organisations, staff, patients, encryption keys, guardians, devices, custodians, anchors.
contract IdentitiesTest is MedVaultTest {
    address internal newOrg = makeAddr("newOrg");
    address internal newStaff = makeAddr("newStaff");

    // -- governance -----------------------------------------------------------------------------------

    function test_addOrganisation_activates() public {
        vm.expectEmit(address(vault));
        emit IMedVault.OrganisationAdded(newOrg);
        vm.prank(governance);
        vault.addOrganisation(newOrg);
        assertEq(uint8(vault.organisationStatus(newOrg)), uint8(IMedVault.OrganisationStatus.Active));
    }

    function test_addOrganisation_revertsForNonGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        vm.prank(stranger);
        vault.addOrganisation(newOrg);
    }

    function test_addOrganisation_revertsForAccountInUse() public {
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, hospital));
        vault.addOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, patient));
        vault.addOrganisation(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, address(0)));
        vault.addOrganisation(address(0));
        vm.stopPrank();
    }

    function test_suspendOrganisation_cutsStaffAccessAtOnce() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
        vm.expectEmit(address(vault));
        emit IMedVault.OrganisationSuspended(hospital);
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        assertEq(uint8(vault.organisationStatus(hospital)), uint8(IMedVault.OrganisationStatus.Suspended));
    }

    function test_suspendOrganisation_revertsUnlessActive() public {
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotActiveOrganisation.selector, newOrg));
        vault.suspendOrganisation(newOrg);
        vault.suspendOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotActiveOrganisation.selector, hospital));
        vault.suspendOrganisation(hospital);
        vm.stopPrank();
    }

    function test_suspendOrganisation_revertsForNonGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, hospital));
        vm.prank(hospital);
        vault.suspendOrganisation(hospital);
    }

    function test_restoreOrganisation_restoresAccess() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.startPrank(governance);
        vault.suspendOrganisation(hospital);
        vm.expectEmit(address(vault));
        emit IMedVault.OrganisationRestored(hospital);
        vault.restoreOrganisation(hospital);
        vm.stopPrank();
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_restoreOrganisation_revertsUnlessSuspended() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotSuspended.selector, hospital));
        vm.prank(governance);
        vault.restoreOrganisation(hospital);
    }

    function test_restoreOrganisation_revertsForNonGovernance() public {
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, hospital));
        vm.prank(hospital);
        vault.restoreOrganisation(hospital);
    }

    function test_setRelayer_setsAndClears() public {
        vm.expectEmit(address(vault));
        emit IMedVault.RelayerSet(stranger, true);
        vm.prank(governance);
        vault.setRelayer(stranger, true);
        assertTrue(vault.isRelayer(stranger));
        vm.prank(governance);
        vault.setRelayer(stranger, false);
        assertFalse(vault.isRelayer(stranger));
    }

    function test_setRelayer_revertsForNonGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        vm.prank(stranger);
        vault.setRelayer(stranger, true);
    }

    function test_renounceOwnership_reverts() public {
        vm.expectRevert(IMedVault.RenounceDisabled.selector);
        vm.prank(governance);
        vault.renounceOwnership();
        assertEq(vault.owner(), governance);
    }

    function test_transferOwnership_takesTwoSteps() public {
        vm.prank(governance);
        vault.transferOwnership(stranger);
        assertEq(vault.owner(), governance);
        vm.prank(stranger);
        vault.acceptOwnership();
        assertEq(vault.owner(), stranger);
    }

    function test_governance_cannotGrantReadOrWrite() public {
        uint256 id = _addRecord(patient, patient, VITALS, 1);
        vm.startPrank(governance);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, governance, patient));
        vault.grant(patient, doctor, VITALS_BIT, 0, EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotManager.selector, governance, patient));
        vault.grantRecord(id, doctor, EXPIRY);
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 2);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, governance, patient, VITALS));
        vault.addRecord(record, _noEnvelopes());
        vm.stopPrank();
        assertFalse(vault.hasAccess(patient, governance, VITALS));
        assertFalse(vault.canRead(id, governance));
    }

    // -- access-log anchors --------------------------------------------------------------------------

    function test_anchorAccessLog_recordsSequence() public {
        vm.expectEmit(address(vault));
        emit IMedVault.AccessLogAnchored(7, keccak256("log"), relayer);
        vm.prank(relayer);
        vault.anchorAccessLog(7, keccak256("log"));
        assertEq(vault.lastAnchorSequence(), 7);
    }

    function test_anchorAccessLog_revertsForNonRelayer() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotRelayer.selector, stranger));
        vm.prank(stranger);
        vault.anchorAccessLog(1, keccak256("log"));
    }

    function test_anchorAccessLog_revertsForStaleSequence() public {
        vm.startPrank(relayer);
        vault.anchorAccessLog(5, keccak256("a"));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaleSequence.selector, 5, 5));
        vault.anchorAccessLog(5, keccak256("b"));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaleSequence.selector, 4, 5));
        vault.anchorAccessLog(4, keccak256("b"));
        vm.stopPrank();
        assertEq(vault.lastAnchorSequence(), 5);
    }

    // -- staff ---------------------------------------------------------------------------------------

    function test_addStaff_addsWithRoleAndLicence() public {
        vm.expectEmit(address(vault));
        emit IMedVault.StaffAdded(hospital, newStaff, IMedVault.Role.Lab, LICENCE_EXPIRY, START);
        vm.prank(hospital);
        vault.addStaff(newStaff, IMedVault.Role.Lab, LICENCE_EXPIRY);
        IMedVault.Staff memory s = vault.staff(newStaff);
        assertEq(s.organisation, hospital);
        assertEq(uint8(s.role), uint8(IMedVault.Role.Lab));
        assertEq(s.licenceExpiry, LICENCE_EXPIRY);
        assertEq(s.since, START);
    }

    function test_addStaff_updatesOwnStaffKeepingEpoch() public {
        vm.prank(hospital);
        vault.addStaff(doctor, IMedVault.Role.Emergency, LICENCE_EXPIRY + 1);
        IMedVault.Staff memory s = vault.staff(doctor);
        assertEq(uint8(s.role), uint8(IMedVault.Role.Emergency));
        assertEq(s.licenceExpiry, LICENCE_EXPIRY + 1);
        assertEq(s.since, START);
    }

    function test_addStaff_revertsForInactiveOrganisation() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotActiveOrganisation.selector, stranger));
        vm.prank(stranger);
        vault.addStaff(newStaff, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        vm.prank(governance);
        vault.suspendOrganisation(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotActiveOrganisation.selector, hospital));
        vm.prank(hospital);
        vault.addStaff(newStaff, IMedVault.Role.Doctor, LICENCE_EXPIRY);
    }

    function test_addStaff_revertsForRoleNone() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidRole.selector, IMedVault.Role.None));
        vm.prank(hospital);
        vault.addStaff(newStaff, IMedVault.Role.None, LICENCE_EXPIRY);
    }

    function test_addStaff_revertsForPastLicence() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidLicenceExpiry.selector, START));
        vm.prank(hospital);
        vault.addStaff(newStaff, IMedVault.Role.Doctor, START);
    }

    function test_addStaff_revertsForOtherOrganisationsStaff() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaffOfOtherOrganisation.selector, doctor, hospital));
        vm.prank(otherHospital);
        vault.addStaff(doctor, IMedVault.Role.Doctor, LICENCE_EXPIRY);
    }

    function test_addStaff_revertsForAccountInUse() public {
        vm.startPrank(hospital);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, patient));
        vault.addStaff(patient, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, device));
        vault.addStaff(device, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, otherHospital));
        vault.addStaff(otherHospital, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        vm.stopPrank();
    }

    function test_removeStaff_cutsAccessForGood() public {
        _grant(doctor, VITALS_BIT, 0, EXPIRY);
        vm.expectEmit(address(vault));
        emit IMedVault.StaffRemoved(hospital, doctor);
        vm.prank(hospital);
        vault.removeStaff(doctor);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        // Added again later, by another organisation: the old grant predates the membership and stays dead.
        vm.warp(START + 1);
        vm.prank(otherHospital);
        vault.addStaff(doctor, IMedVault.Role.Doctor, LICENCE_EXPIRY);
        assertEq(vault.staff(doctor).since, START + 1);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    function test_removeStaff_revertsForNonStaff() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotStaff.selector, stranger));
        vm.prank(hospital);
        vault.removeStaff(stranger);
    }

    function test_removeStaff_revertsForOtherOrganisation() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.StaffOfOtherOrganisation.selector, doctor, hospital));
        vm.prank(otherHospital);
        vault.removeStaff(doctor);
    }

    function test_removeStaff_revertsForNonOrganisation() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotOrganisation.selector, stranger));
        vm.prank(stranger);
        vault.removeStaff(doctor);
    }

    function test_licenceExpiry_cutsAccessAtOnce() public {
        _grant(doctor, VITALS_BIT, 0, LICENCE_EXPIRY + 10 days);
        vm.warp(LICENCE_EXPIRY - 1);
        assertTrue(vault.hasAccess(patient, doctor, VITALS));
        vm.warp(LICENCE_EXPIRY);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
        vm.warp(LICENCE_EXPIRY + 1);
        assertFalse(vault.hasAccess(patient, doctor, VITALS));
    }

    // -- patients and keys ----------------------------------------------------------------------------

    function test_register_registersWithKey() public {
        address someone = makeAddr("someone");
        bytes memory key = _key(99);
        vm.expectEmit(address(vault));
        emit IMedVault.PatientRegistered(someone);
        vm.expectEmit(address(vault));
        emit IMedVault.EncryptionKeySet(someone, key);
        vm.prank(someone);
        vault.register(key);
        assertTrue(vault.isPatient(someone));
        assertEq(vault.encryptionKey(someone), key);
    }

    function test_register_revertsForAccountInUse() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, patient));
        vm.prank(patient);
        vault.register(_key(1));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, doctor));
        vm.prank(doctor);
        vault.register(_key(1));
    }

    function test_register_revertsForMalformedKey() public {
        address someone = makeAddr("someone");
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidEncryptionKey.selector, 32));
        vm.prank(someone);
        vault.register(abi.encodePacked(keccak256("x")));
        assertFalse(vault.isPatient(someone));
    }

    function test_setEncryptionKey_rotates() public {
        bytes memory key = _key(77);
        vm.expectEmit(address(vault));
        emit IMedVault.EncryptionKeySet(patient, key);
        vm.prank(patient);
        vault.setEncryptionKey(key);
        assertEq(vault.encryptionKey(patient), key);
    }

    function test_setEncryptionKey_revertsForBadLength() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidEncryptionKey.selector, 65));
        vault.setEncryptionKey(abi.encodePacked(bytes1(0x04), keccak256("x"), keccak256("y")));
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidEncryptionKey.selector, 0));
        vault.setEncryptionKey("");
        vm.stopPrank();
        assertEq(vault.encryptionKey(patient), _key(10));
    }

    function testFuzz_setEncryptionKey_acceptsOnlyCompressedPoints(bytes1 prefix, bytes32 x, uint8 extra) public {
        bytes memory key = abi.encodePacked(prefix, x);
        if (extra % 3 == 1) key = abi.encodePacked(key, bytes1(0x01));
        if (extra % 3 == 2) key = abi.encodePacked(x);
        bool valid = key.length == 33 && (prefix == 0x02 || prefix == 0x03);
        if (!valid) vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidEncryptionKey.selector, key.length));
        vm.prank(stranger);
        vault.setEncryptionKey(key);
        assertEq(vault.encryptionKey(stranger), valid ? key : bytes(""));
    }

    // -- guardians ------------------------------------------------------------------------------------

    function test_setGuardian_setsPowers() public {
        vm.expectEmit(address(vault));
        emit IMedVault.GuardianSet(patient, guardian, 2);
        vm.prank(patient);
        vault.setGuardian(guardian, 2);
        assertEq(vault.guardianPowers(patient, guardian), 2);
        assertTrue(vault.hasAccess(patient, guardian, LABS));
    }

    function test_setGuardian_revertsForNonPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(stranger);
        vault.setGuardian(guardian, 1);
    }

    function test_setGuardian_revertsForSelf() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.SelfReference.selector, patient));
        vm.prank(patient);
        vault.setGuardian(patient, 1);
    }

    function test_setGuardian_revertsForInvalidPowers() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidPowers.selector, 0));
        vault.setGuardian(guardian, 0);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidPowers.selector, 4));
        vault.setGuardian(guardian, 4);
        vm.stopPrank();
    }

    function test_setGuardian_revertsWithoutEncryptionKey() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.MissingEncryptionKey.selector, stranger));
        vm.prank(patient);
        vault.setGuardian(stranger, 1);
    }

    function test_removeGuardian_removesPowers() public {
        vm.expectEmit(address(vault));
        emit IMedVault.GuardianRemoved(patient, guardian);
        vm.prank(patient);
        vault.removeGuardian(guardian);
        assertEq(vault.guardianPowers(patient, guardian), 0);
        assertFalse(vault.hasAccess(patient, guardian, VITALS));
    }

    function test_removeGuardian_revertsForNonGuardian() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotGuardian.selector, patient, stranger));
        vm.prank(patient);
        vault.removeGuardian(stranger);
    }

    // -- devices and custodians -------------------------------------------------------------------------

    function test_addDevice_registersForOneCategory() public {
        address sensor = makeAddr("sensor");
        vm.expectEmit(address(vault));
        emit IMedVault.DeviceAdded(patient, sensor, VITALS);
        vm.prank(patient);
        vault.addDevice(sensor, VITALS);
        (address owner, uint8 category) = vault.device(sensor);
        assertEq(owner, patient);
        assertEq(category, VITALS);
    }

    function test_addDevice_revertsForNonPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(stranger);
        vault.addDevice(makeAddr("sensor"), VITALS);
    }

    function test_addDevice_revertsForInvalidCategory() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.InvalidCategory.selector, 64));
        vm.prank(patient);
        vault.addDevice(makeAddr("sensor"), 64);
    }

    function test_addDevice_revertsForSelfOrTaken() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.SelfReference.selector, patient));
        vault.addDevice(patient, VITALS);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, device));
        vault.addDevice(device, VITALS);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.AccountInUse.selector, doctor));
        vault.addDevice(doctor, VITALS);
        vm.stopPrank();
    }

    function test_removeDevice_stopsItsWrites() public {
        vm.expectEmit(address(vault));
        emit IMedVault.DeviceRemoved(patient, device);
        vm.prank(patient);
        vault.removeDevice(device);
        IMedVault.RecordInput memory record = _recordInput(patient, VITALS, 1);
        record.wrappedKey = "";
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotWriter.selector, device, patient, VITALS));
        vm.prank(device);
        vault.addRecord(record, _noEnvelopes());
    }

    function test_removeDevice_revertsForOthersDevice() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotDevice.selector, stranger, device));
        vm.prank(stranger);
        vault.removeDevice(device);
    }

    function test_setEmergencyCustodian_setsAndClears() public {
        address other = makeAddr("otherCustodian");
        _setKey(other, 50);
        vm.expectEmit(address(vault));
        emit IMedVault.EmergencyCustodianSet(patient, other);
        vm.prank(patient);
        vault.setEmergencyCustodian(other);
        assertEq(vault.emergencyCustodian(patient), other);
        vm.prank(patient);
        vault.setEmergencyCustodian(address(0));
        assertEq(vault.emergencyCustodian(patient), address(0));
    }

    function test_setEmergencyCustodian_revertsForNonPatient() public {
        vm.expectRevert(abi.encodeWithSelector(IMedVault.NotPatient.selector, stranger));
        vm.prank(stranger);
        vault.setEmergencyCustodian(custodian);
    }

    function test_setEmergencyCustodian_revertsForSelfOrKeyless() public {
        vm.startPrank(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.SelfReference.selector, patient));
        vault.setEmergencyCustodian(patient);
        vm.expectRevert(abi.encodeWithSelector(IMedVault.MissingEncryptionKey.selector, stranger));
        vault.setEmergencyCustodian(stranger);
        vm.stopPrank();
        assertEq(vault.emergencyCustodian(patient), custodian);
    }
}
