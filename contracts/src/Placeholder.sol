// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Placeholder
/// @notice Proves the toolchain end to end (solc-js, forge, foundry-compilers, Anvil) until the
/// MedVault contracts replace it. It stores one number chosen at deployment and holds no data.
contract Placeholder {
    /// @notice The number given to the constructor.
    uint256 public immutable value;

    /// @param value_ The number `value()` returns.
    constructor(uint256 value_) {
        value = value_;
    }
}
