// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Placeholder} from "../src/Placeholder.sol";
import {Test} from "forge-std/Test.sol";

contract PlaceholderTest is Test {
    function test_value_returnsConstructorArgument() public {
        Placeholder placeholder = new Placeholder(42);
        assertEq(placeholder.value(), 42);
    }

    function testFuzz_value_returnsConstructorArgument(uint256 value) public {
        assertEq(new Placeholder(value).value(), value);
    }
}
