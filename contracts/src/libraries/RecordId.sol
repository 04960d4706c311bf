// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title RecordId
/// @notice A record id carries its patient and category, so that access checks on a record need no
/// storage read to learn whose it is: `patient (160 bits) | category (8 bits) | sequence (88 bits)`,
/// where the sequence counts the patient's records from 1.
library RecordId {
    /// @notice Builds the id of the patient's record number `sequence` in `category`.
    function encode(address patient_, uint8 category_, uint88 sequence_) internal pure returns (uint256) {
        return (uint256(uint160(patient_)) << 96) | (uint256(category_) << 88) | sequence_;
    }

    /// @notice The patient a record id belongs to.
    function patient(uint256 id) internal pure returns (address) {
        return address(uint160(id >> 96));
    }

    /// @notice The category a record id was filed under.
    function category(uint256 id) internal pure returns (uint8) {
        return uint8(id >> 88);
    }

    /// @notice The per-patient sequence number of a record id.
    function sequence(uint256 id) internal pure returns (uint88) {
        return uint88(id);
    }
}
