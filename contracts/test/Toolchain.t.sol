// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Test} from "forge-std/Test.sol";

/// @notice The libraries from npm resolve through remappings.txt: OpenZeppelin, and a forge-std
/// recent enough for handler-based invariant suites and per-call gas measurement.
contract ToolchainTest is StdInvariant, Test {
    function test_openZeppelin_isRemapped() public pure {
        assertEq(Strings.toString(uint256(31_337)), "31337");
    }

    function test_openZeppelin_recoversASigner() public {
        (address signer, uint256 key) = makeAddrAndKey("signer");
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(keccak256("MedVault"));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        assertEq(ECDSA.recover(digest, v, r, s), signer);
    }

    function test_forgeStd_measuresTheGasOfTheLastCall() public {
        this.externalCall();
        assertGt(vm.lastCallGas().gasTotalUsed, 0);
    }

    function test_forgeStd_hasInvariantTargets() public {
        targetContract(address(this));
        assertEq(targetContracts().length, 1);
    }

    function externalCall() external pure returns (uint256) {
        return 1;
    }
}
