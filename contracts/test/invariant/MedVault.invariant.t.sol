// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";

import {MedVault} from "../../src/MedVault.sol";
import {Handler} from "./Handler.sol";

/// @notice MedVault's access views agree with a ghost model through random grants, requests, revocations,
/// suspensions, licence changes, break-glass cases, records, envelope attempts, signed actions and time warps.
contract MedVaultInvariantTest is Test {
    MedVault internal vault;
    Handler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        address governance = makeAddr("governance");
        vault = new MedVault(governance);
        handler = new Handler(vault, governance);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = Handler.grant.selector;
        selectors[1] = Handler.grantBySig.selector;
        selectors[2] = Handler.revoke.selector;
        selectors[3] = Handler.requestAndAnswer.selector;
        selectors[4] = Handler.suspend.selector;
        selectors[5] = Handler.restore.selector;
        selectors[6] = Handler.renewLicence.selector;
        selectors[7] = Handler.warp.selector;
        selectors[8] = Handler.warp.selector;
        selectors[9] = Handler.addRecord.selector;
        selectors[10] = Handler.openBreakGlass.selector;
        selectors[11] = Handler.closeBreakGlass.selector;
        selectors[12] = Handler.publishCategoryKey.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// @dev `hasAccess` is true exactly when the model holds a live grant, read guardianship or break-glass case;
    /// so only grant, approve, revoke, expiry, suspension, licence expiry and break-glass change access.
    function invariant_hasAccessMatchesModel() public view {
        for (uint256 p; p < 5; ++p) {
            address patient = handler.patients(p);
            for (uint256 s; s < 5; ++s) {
                address account = handler.staff(s);
                for (uint8 c; c < 3; ++c) {
                    assertEq(vault.hasAccess(patient, account, c), handler.modelHasAccess(patient, account, c));
                }
            }
            assertFalse(vault.hasAccess(patient, handler.stranger(), 0));
            assertFalse(vault.hasAccess(patient, handler.custodian(), 0));
        }
    }

    /// @dev Record headers never change: every record ever added still verifies with its CID and hash.
    function invariant_recordHeadersNeverChange() public view {
        uint256 count = handler.recordCount();
        for (uint256 i; i < count; ++i) {
            uint256 id = handler.recordIds(i);
            assertTrue(vault.verifyRecord(id, handler.cids(id), handler.hashes(id)));
        }
    }

    /// @dev Nonces only increase, by one for each accepted signed action.
    function invariant_noncesCountSignedActions() public view {
        assertEq(handler.nonceMismatches(), 0);
        for (uint256 p; p < 5; ++p) {
            address patient = handler.patients(p);
            assertEq(handler.forwarder().nonces(patient), handler.signedActions(patient));
        }
    }

    /// @dev Only the patient's managers (and the custodian, to break-glass staff) publish envelopes, and only to
    /// the patient, read guardians, the custodian, live grantees and break-glass staff.
    function invariant_envelopesOnlyBetweenEntitled() public view {
        assertEq(handler.envelopeMismatches(), 0);
    }
}
