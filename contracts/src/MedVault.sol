// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

import {MedVaultForwarder} from "./MedVaultForwarder.sol";
import {IMedVault} from "./interfaces/IMedVault.sol";
import {RecordId} from "./libraries/RecordId.sol";

/// @title MedVault
/// @notice Patient-controlled consent over encrypted medical records. See {IMedVault}.
/// @dev Non-upgradeable: governance adds, suspends and restores organisations and names relayers, nothing more.
/// Every check reads a fixed number of slots: access is decided from the grant, the grantee's staff slot and
/// their organisation's status, so suspending an organisation or a licence lapsing cuts access without a loop.
/// Signed actions arrive through the {MedVaultForwarder} deployed here, which appends the signer to the call.
contract MedVault is IMedVault, Ownable2Step {
    using RecordId for uint256;

    /// @notice The highest category; scopes are 64-bit masks.
    uint8 public constant MAX_CATEGORY = 63;
    /// @notice The category break-glass access opens and the custodian holds the key of.
    uint8 public constant EMERGENCY_CATEGORY = 0;
    /// @notice How long break-glass access lasts.
    uint40 public constant BREAK_GLASS_DURATION = 12 hours;
    /// @notice Unreviewed break-glass cases a staff member may hold before they can open no more.
    uint8 public constant MAX_OPEN_CASES = 3;
    /// @notice Guardian power to manage consent and keys.
    uint8 public constant POWER_MANAGE = 1;
    /// @notice Guardian power to read.
    uint8 public constant POWER_READ = 2;

    uint256 private constant _MIN_CID_LENGTH = 34;
    uint256 private constant _MAX_CID_LENGTH = 64;
    uint256 private constant _MAX_WRAPPED_KEY_LENGTH = 128;
    uint256 private constant _MAX_SEALED_KEY_LENGTH = 256;
    uint256 private constant _MAX_RECORD_ENVELOPES = 16;
    uint32 private constant _MAX_DURATION = 3650 days;

    /// @dev A patient's slot: registration, their record counter and their emergency custodian.
    struct Patient {
        bool registered;
        uint88 recordCount;
        address custodian;
    }

    /// @dev A device's slot: the one patient it writes for and its category.
    struct Device {
        address patient;
        uint8 category;
    }

    /// @dev A compressed secp256k1 point: prefix 0x02 or 0x03 (0 when none is registered), then x.
    struct PublicKey {
        bytes1 prefix;
        bytes32 x;
    }

    /// @dev A grant on one record.
    struct RecordGrant {
        uint40 expiry;
        uint40 grantedAt;
    }

    /// @inheritdoc IMedVault
    address public immutable forwarder;

    mapping(address organisation => OrganisationStatus) private _organisations;
    mapping(address account => Staff) private _staff;
    mapping(address account => Patient) private _patients;
    mapping(address account => Device) private _devices;
    mapping(address account => PublicKey) private _keys;
    mapping(address patient => mapping(address guardian => uint8 powers)) private _guardians;
    mapping(address patient => mapping(address grantee => Grant)) private _grants;
    mapping(uint256 recordId => bytes32 digest) private _records;
    mapping(uint256 recordId => mapping(address grantee => RecordGrant)) private _recordGrants;
    mapping(address patient => mapping(uint8 category => uint32 epoch)) private _epochs;
    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 caseId => EmergencyCase) private _cases;
    mapping(address patient => mapping(address staff => uint256 caseId)) private _emergencyCases;
    mapping(address account => bool) private _relayers;
    uint256 private _requestCount;
    uint256 private _caseCount;
    uint64 private _lastAnchorSequence;

    /// @param governance The account that adds, suspends and restores organisations.
    constructor(address governance) Ownable(governance) {
        forwarder = address(new MedVaultForwarder(this));
    }

    // ------------------------------------------------------------------------------------------------
    // Governance
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function addOrganisation(address organisation) external onlyOwner {
        _checkUnused(organisation);
        _organisations[organisation] = OrganisationStatus.Active;
        emit OrganisationAdded(organisation);
    }

    /// @inheritdoc IMedVault
    function suspendOrganisation(address organisation) external onlyOwner {
        if (_organisations[organisation] != OrganisationStatus.Active) revert NotActiveOrganisation(organisation);
        _organisations[organisation] = OrganisationStatus.Suspended;
        emit OrganisationSuspended(organisation);
    }

    /// @inheritdoc IMedVault
    function restoreOrganisation(address organisation) external onlyOwner {
        if (_organisations[organisation] != OrganisationStatus.Suspended) revert NotSuspended(organisation);
        _organisations[organisation] = OrganisationStatus.Active;
        emit OrganisationRestored(organisation);
    }

    /// @inheritdoc IMedVault
    function setRelayer(address relayer, bool enabled) external onlyOwner {
        _relayers[relayer] = enabled;
        emit RelayerSet(relayer, enabled);
    }

    /// @notice Disabled: without governance no organisation could ever be added, suspended or restored again.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceDisabled();
    }

    // ------------------------------------------------------------------------------------------------
    // Identities
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function addStaff(address account, Role role, uint40 licenceExpiry) external {
        _addStaff(_msgSender(), account, role, licenceExpiry);
    }

    /// @inheritdoc IMedVault
    function removeStaff(address account) external {
        _removeStaff(_msgSender(), account);
    }

    /// @inheritdoc IMedVault
    function register(bytes calldata key) external {
        _register(_msgSender(), key);
    }

    /// @inheritdoc IMedVault
    function setEncryptionKey(bytes calldata key) external {
        _setEncryptionKey(_msgSender(), key);
    }

    /// @inheritdoc IMedVault
    function setGuardian(address guardian, uint8 powers) external {
        _setGuardian(_msgSender(), guardian, powers);
    }

    /// @inheritdoc IMedVault
    function removeGuardian(address guardian) external {
        _removeGuardian(_msgSender(), guardian);
    }

    /// @inheritdoc IMedVault
    function addDevice(address account, uint8 category) external {
        _addDevice(_msgSender(), account, category);
    }

    /// @inheritdoc IMedVault
    function removeDevice(address account) external {
        _removeDevice(_msgSender(), account);
    }

    /// @inheritdoc IMedVault
    function setEmergencyCustodian(address custodian) external {
        _setEmergencyCustodian(_msgSender(), custodian);
    }

    // ------------------------------------------------------------------------------------------------
    // Records
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function addRecord(RecordInput calldata record, Envelope[] calldata envelopes) external returns (uint256) {
        return _addRecord(_msgSender(), record, envelopes);
    }

    /// @inheritdoc IMedVault
    function raiseAlert(uint256 recordId, uint8 severity) external {
        _raiseAlert(_msgSender(), recordId, severity);
    }

    // ------------------------------------------------------------------------------------------------
    // Consent
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function grant(address patient, address grantee, uint64 readMask, uint64 writeMask, uint40 expiry) external {
        _grant(_msgSender(), patient, grantee, readMask, writeMask, expiry);
    }

    /// @inheritdoc IMedVault
    function revoke(address patient, address grantee) external {
        _revoke(_msgSender(), patient, grantee);
    }

    /// @inheritdoc IMedVault
    function grantRecord(uint256 recordId, address grantee, uint40 expiry) external {
        _grantRecord(_msgSender(), recordId, grantee, expiry);
    }

    /// @inheritdoc IMedVault
    function revokeRecord(uint256 recordId, address grantee) external {
        _revokeRecord(_msgSender(), recordId, grantee);
    }

    /// @inheritdoc IMedVault
    function requestAccess(address patient, uint64 readMask, uint64 writeMask, uint32 duration, bytes32 purposeHash)
        external
        returns (uint256)
    {
        return _requestAccess(_msgSender(), patient, readMask, writeMask, duration, purposeHash);
    }

    /// @inheritdoc IMedVault
    function approveRequest(uint256 requestId) external {
        _approveRequest(_msgSender(), requestId);
    }

    /// @inheritdoc IMedVault
    function denyRequest(uint256 requestId) external {
        _denyRequest(_msgSender(), requestId);
    }

    // ------------------------------------------------------------------------------------------------
    // Key envelopes
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function publishCategoryKey(address patient, uint8 category, uint32 epoch, Envelope calldata envelope) external {
        _publishCategoryKey(_msgSender(), patient, category, epoch, envelope);
    }

    /// @inheritdoc IMedVault
    function publishRecordKey(uint256 recordId, Envelope calldata envelope) external {
        _publishRecordKey(_msgSender(), recordId, envelope);
    }

    /// @inheritdoc IMedVault
    function rotateCategoryKey(address patient, uint8 category, bytes calldata sealedPreviousKey)
        external
        returns (uint32)
    {
        return _rotateCategoryKey(_msgSender(), patient, category, sealedPreviousKey);
    }

    // ------------------------------------------------------------------------------------------------
    // Break-glass
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function openBreakGlass(address patient, bytes32 reasonHash) external returns (uint256) {
        return _openBreakGlass(_msgSender(), patient, reasonHash);
    }

    /// @inheritdoc IMedVault
    function closeBreakGlass(uint256 caseId, Verdict verdict) external {
        _closeBreakGlass(_msgSender(), caseId, verdict);
    }

    // ------------------------------------------------------------------------------------------------
    // Access log
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function anchorAccessLog(uint64 sequence, bytes32 logHash) external {
        if (!_relayers[msg.sender]) revert NotRelayer(msg.sender);
        uint64 last = _lastAnchorSequence;
        if (sequence <= last) revert StaleSequence(sequence, last);
        _lastAnchorSequence = sequence;
        emit AccessLogAnchored(sequence, logHash, msg.sender);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IMedVault
    function hasAccess(address patient, address account, uint8 category) public view returns (bool) {
        return _accessBasis(patient, account, category) != ReadBasis.None;
    }

    /// @inheritdoc IMedVault
    function canRead(uint256 recordId, address reader) public view returns (bool) {
        return readBasis(recordId, reader) != ReadBasis.None;
    }

    /// @inheritdoc IMedVault
    function readBasis(uint256 recordId, address reader) public view returns (ReadBasis) {
        if (_records[recordId] == 0) return ReadBasis.None;
        ReadBasis basis = _accessBasis(recordId.patient(), reader, recordId.category());
        if (basis != ReadBasis.None) return basis;
        RecordGrant memory g = _recordGrants[recordId][reader];
        return block.timestamp < g.expiry && _isLiveStaff(reader, g.grantedAt) ? ReadBasis.RecordGrant : ReadBasis.None;
    }

    /// @inheritdoc IMedVault
    function verifyRecord(uint256 recordId, bytes calldata cid, bytes32 ciphertextHash) external view returns (bool) {
        // A missing record reads as zero, which no digest equals.
        return _records[recordId] == _recordDigest(cid, ciphertextHash);
    }

    /// @inheritdoc IMedVault
    function recordCount(address patient) external view returns (uint88) {
        return _patients[patient].recordCount;
    }

    /// @inheritdoc IMedVault
    function organisationStatus(address organisation) external view returns (OrganisationStatus) {
        return _organisations[organisation];
    }

    /// @inheritdoc IMedVault
    function staff(address account) external view returns (Staff memory) {
        return _staff[account];
    }

    /// @inheritdoc IMedVault
    function isPatient(address account) external view returns (bool) {
        return _patients[account].registered;
    }

    /// @inheritdoc IMedVault
    function encryptionKey(address account) external view returns (bytes memory) {
        PublicKey memory key = _keys[account];
        return key.prefix == 0 ? bytes("") : abi.encodePacked(key.prefix, key.x);
    }

    /// @inheritdoc IMedVault
    function guardianPowers(address patient, address guardian) external view returns (uint8) {
        return _guardians[patient][guardian];
    }

    /// @inheritdoc IMedVault
    function device(address account) external view returns (address, uint8) {
        Device memory d = _devices[account];
        return (d.patient, d.category);
    }

    /// @inheritdoc IMedVault
    function emergencyCustodian(address patient) external view returns (address) {
        return _patients[patient].custodian;
    }

    /// @inheritdoc IMedVault
    function grantOf(address patient, address grantee) external view returns (Grant memory) {
        return _grants[patient][grantee];
    }

    /// @inheritdoc IMedVault
    function recordGrantExpiry(uint256 recordId, address grantee) external view returns (uint40) {
        return _recordGrants[recordId][grantee].expiry;
    }

    /// @inheritdoc IMedVault
    function request(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    /// @inheritdoc IMedVault
    function emergencyCase(uint256 caseId) external view returns (EmergencyCase memory) {
        return _cases[caseId];
    }

    /// @inheritdoc IMedVault
    function categoryEpoch(address patient, uint8 category) external view returns (uint32) {
        return _epochs[patient][category];
    }

    /// @inheritdoc IMedVault
    function isRelayer(address account) external view returns (bool) {
        return _relayers[account];
    }

    /// @inheritdoc IMedVault
    function lastAnchorSequence() external view returns (uint64) {
        return _lastAnchorSequence;
    }

    // ------------------------------------------------------------------------------------------------
    // Actions: each takes the actor, the caller or the signer of a `...BySig` call.
    // ------------------------------------------------------------------------------------------------

    function _addStaff(address organisation, address account, Role role, uint40 licenceExpiry) private {
        if (_organisations[organisation] != OrganisationStatus.Active) revert NotActiveOrganisation(organisation);
        if (role == Role.None) revert InvalidRole(role);
        if (licenceExpiry <= block.timestamp) revert InvalidLicenceExpiry(licenceExpiry);
        Staff storage s = _staff[account];
        uint40 since = s.since;
        if (s.role != Role.None) {
            // Already staff: only their own organisation may change their role or licence.
            if (s.organisation != organisation) revert StaffOfOtherOrganisation(account, s.organisation);
        } else {
            // Never staff before (so it must hold no other part), or removed and now added anew.
            if (since == 0) _checkUnused(account);
            since = uint40(block.timestamp);
            s.organisation = organisation;
            s.since = since;
        }
        s.role = role;
        s.licenceExpiry = licenceExpiry;
        emit StaffAdded(organisation, account, role, licenceExpiry, since);
    }

    function _removeStaff(address organisation, address account) private {
        if (_organisations[organisation] == OrganisationStatus.None) revert NotOrganisation(organisation);
        Staff storage s = _staff[account];
        if (s.role == Role.None) revert NotStaff(account);
        if (s.organisation != organisation) revert StaffOfOtherOrganisation(account, s.organisation);
        s.role = Role.None;
        emit StaffRemoved(organisation, account);
    }

    function _register(address account, bytes calldata key) private {
        _checkUnused(account);
        _patients[account].registered = true;
        emit PatientRegistered(account);
        _setEncryptionKey(account, key);
    }

    function _setEncryptionKey(address account, bytes calldata key) private {
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert InvalidEncryptionKey(key.length);
        _keys[account] = PublicKey({prefix: key[0], x: bytes32(key[1:])});
        emit EncryptionKeySet(account, key);
    }

    function _setGuardian(address patient, address guardian, uint8 powers) private {
        _checkPatient(patient);
        if (guardian == patient) revert SelfReference(patient);
        if (powers == 0 || powers > POWER_MANAGE | POWER_READ) revert InvalidPowers(powers);
        _checkHasKey(guardian);
        _guardians[patient][guardian] = powers;
        emit GuardianSet(patient, guardian, powers);
    }

    function _removeGuardian(address patient, address guardian) private {
        if (_guardians[patient][guardian] == 0) revert NotGuardian(patient, guardian);
        delete _guardians[patient][guardian];
        emit GuardianRemoved(patient, guardian);
    }

    function _addDevice(address patient, address account, uint8 category) private {
        _checkPatient(patient);
        _checkCategory(category);
        if (account == patient) revert SelfReference(patient);
        _checkUnused(account);
        _devices[account] = Device({patient: patient, category: category});
        emit DeviceAdded(patient, account, category);
    }

    function _removeDevice(address patient, address account) private {
        if (_devices[account].patient != patient) revert NotDevice(patient, account);
        delete _devices[account];
        emit DeviceRemoved(patient, account);
    }

    function _setEmergencyCustodian(address patient, address custodian) private {
        _checkPatient(patient);
        if (custodian == patient) revert SelfReference(patient);
        if (custodian != address(0)) _checkHasKey(custodian);
        _patients[patient].custodian = custodian;
        emit EmergencyCustodianSet(patient, custodian);
    }

    function _addRecord(address author, RecordInput calldata record, Envelope[] calldata envelopes)
        private
        returns (uint256 recordId)
    {
        address patient = record.patient;
        uint8 category = record.category;
        _checkCategory(category);
        Patient storage p = _patients[patient];
        if (!p.registered) revert NotPatient(patient);
        if (author != patient && !_isWriter(author, patient, category)) revert NotWriter(author, patient, category);
        if (record.cid.length < _MIN_CID_LENGTH || record.cid.length > _MAX_CID_LENGTH) {
            revert InvalidCid(record.cid.length);
        }
        if (record.wrappedKey.length > _MAX_WRAPPED_KEY_LENGTH) revert InvalidWrappedKey(record.wrappedKey.length);
        // A key wrapped under an old epoch would let those the last rotation shut out read a new record.
        if (record.wrappedKey.length != 0) {
            uint32 current = _epochs[patient][category];
            if (record.epoch != current) revert StaleEpoch(record.epoch, current);
        }
        uint256 amends = record.amends;
        if (amends != 0 && (amends.patient() != patient || amends.category() != category || _records[amends] == 0)) {
            revert InvalidAmendment(amends);
        }
        if (envelopes.length > _MAX_RECORD_ENVELOPES) revert TooManyEnvelopes(envelopes.length);

        uint88 sequence = p.recordCount + 1;
        p.recordCount = sequence;
        recordId = RecordId.encode(patient, category, sequence);
        _records[recordId] = _recordDigest(record.cid, record.ciphertextHash);
        emit RecordAdded(recordId, patient, author, record);

        for (uint256 i; i < envelopes.length; ++i) {
            Envelope calldata envelope = envelopes[i];
            _checkRecordKeyRecipient(recordId, envelope.recipient, false);
            _checkSealedKey(envelope.sealedKey);
            emit RecordKeyPublished(recordId, envelope.recipient, author, envelope.sealedKey);
        }
    }

    function _raiseAlert(address author, uint256 recordId, uint8 severity) private {
        if (_records[recordId] == 0) revert UnknownRecord(recordId);
        if (severity == 0 || severity > 3) revert InvalidSeverity(severity);
        address patient = recordId.patient();
        uint8 category = recordId.category();
        if (!_isWriter(author, patient, category)) revert NotWriter(author, patient, category);
        emit AlertRaised(patient, recordId, author, severity);
    }

    function _grant(address actor, address patient, address grantee, uint64 readMask, uint64 writeMask, uint40 expiry)
        private
    {
        _checkManager(actor, patient);
        _checkScope(readMask, writeMask);
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry);
        _writeGrant(actor, patient, grantee, readMask, writeMask, expiry);
    }

    function _writeGrant(
        address actor,
        address patient,
        address grantee,
        uint64 readMask,
        uint64 writeMask,
        uint40 expiry
    ) private {
        _grants[patient][grantee] = Grant({
            readMask: readMask, writeMask: writeMask, expiry: expiry, grantedAt: uint40(block.timestamp)
        });
        emit Granted(patient, grantee, actor, readMask, writeMask, expiry);
    }

    function _revoke(address actor, address patient, address grantee) private {
        _checkManager(actor, patient);
        if (_grants[patient][grantee].readMask == 0) revert NoGrant(patient, grantee);
        delete _grants[patient][grantee];
        emit Revoked(patient, grantee, actor);
    }

    function _grantRecord(address actor, uint256 recordId, address grantee, uint40 expiry) private {
        if (_records[recordId] == 0) revert UnknownRecord(recordId);
        _checkManager(actor, recordId.patient());
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry);
        _recordGrants[recordId][grantee] = RecordGrant({expiry: expiry, grantedAt: uint40(block.timestamp)});
        emit RecordGranted(recordId, grantee, actor, expiry);
    }

    function _revokeRecord(address actor, uint256 recordId, address grantee) private {
        _checkManager(actor, recordId.patient());
        if (_recordGrants[recordId][grantee].expiry == 0) revert NoRecordGrant(recordId, grantee);
        delete _recordGrants[recordId][grantee];
        emit RecordRevoked(recordId, grantee, actor);
    }

    function _requestAccess(
        address account,
        address patient,
        uint64 readMask,
        uint64 writeMask,
        uint32 duration,
        bytes32 purposeHash
    ) private returns (uint256 requestId) {
        if (!_isLiveStaff(account, uint40(block.timestamp))) revert NotStaff(account);
        _checkPatient(patient);
        _checkScope(readMask, writeMask);
        if (duration == 0 || duration > _MAX_DURATION) revert InvalidDuration(duration);
        requestId = ++_requestCount;
        _requests[requestId] = Request({
            patient: patient,
            readMask: readMask,
            status: RequestStatus.Pending,
            staff: account,
            writeMask: writeMask,
            duration: duration
        });
        emit AccessRequested(requestId, patient, account, readMask, writeMask, duration, purposeHash);
    }

    function _approveRequest(address actor, uint256 requestId) private {
        Request storage r = _pendingRequest(requestId);
        address patient = r.patient;
        address account = r.staff;
        _checkManager(actor, patient);
        Staff storage s = _staff[account];
        if (s.role == Role.None) revert NotStaff(account);
        r.status = RequestStatus.Approved;
        uint40 expiry = uint40(block.timestamp) + r.duration;
        emit RequestApproved(requestId, patient, account, expiry);
        _writeGrant(actor, patient, account, r.readMask, r.writeMask, expiry);
    }

    function _denyRequest(address actor, uint256 requestId) private {
        Request storage r = _pendingRequest(requestId);
        address patient = r.patient;
        _checkManager(actor, patient);
        r.status = RequestStatus.Denied;
        emit RequestDenied(requestId, patient, r.staff);
    }

    function _publishCategoryKey(
        address publisher,
        address patient,
        uint8 category,
        uint32 epoch,
        Envelope calldata envelope
    ) private {
        _checkCategory(category);
        address recipient = envelope.recipient;
        bool asCustodian = _checkPublisher(publisher, patient, category);
        _checkRecipient(
            patient, category, recipient, asCustodian, !asCustodian && hasAccess(patient, recipient, category)
        );
        _checkSealedKey(envelope.sealedKey);
        uint32 current = _epochs[patient][category];
        if (epoch != current) revert StaleEpoch(epoch, current);
        emit CategoryKeyPublished(patient, recipient, category, epoch, publisher, envelope.sealedKey);
    }

    function _publishRecordKey(address publisher, uint256 recordId, Envelope calldata envelope) private {
        if (_records[recordId] == 0) revert UnknownRecord(recordId);
        bool asCustodian = _checkPublisher(publisher, recordId.patient(), recordId.category());
        _checkRecordKeyRecipient(recordId, envelope.recipient, asCustodian);
        _checkSealedKey(envelope.sealedKey);
        emit RecordKeyPublished(recordId, envelope.recipient, publisher, envelope.sealedKey);
    }

    function _rotateCategoryKey(address actor, address patient, uint8 category, bytes calldata sealedPreviousKey)
        private
        returns (uint32 epoch)
    {
        _checkManager(actor, patient);
        _checkCategory(category);
        _checkSealedKey(sealedPreviousKey);
        epoch = ++_epochs[patient][category];
        emit CategoryKeyRotated(patient, category, epoch, actor, sealedPreviousKey);
    }

    function _openBreakGlass(address account, address patient, bytes32 reasonHash) private returns (uint256 caseId) {
        Staff storage s = _staff[account];
        if (s.role != Role.Emergency || !_isLiveStaff(account, uint40(block.timestamp))) {
            revert NotEmergencyStaff(account);
        }
        _checkPatient(patient);
        uint8 openCases = s.openCases;
        if (openCases >= MAX_OPEN_CASES) revert TooManyOpenCases(account, openCases);
        if (_hasEmergencyAccess(patient, account)) revert EmergencyAccessOpen(patient, account);
        s.openCases = openCases + 1;
        caseId = ++_caseCount;
        uint40 expiresAt = uint40(block.timestamp) + BREAK_GLASS_DURATION;
        address organisation = s.organisation;
        _cases[caseId] = EmergencyCase({
            staff: account,
            expiresAt: expiresAt,
            verdict: Verdict.None,
            openedAt: uint40(block.timestamp),
            patient: patient,
            organisation: organisation
        });
        _emergencyCases[patient][account] = caseId;
        emit BreakGlassOpened(caseId, patient, organisation, account, reasonHash, expiresAt);
    }

    function _closeBreakGlass(address actor, uint256 caseId, Verdict verdict) private {
        EmergencyCase storage c = _cases[caseId];
        address account = c.staff;
        if (account == address(0)) revert UnknownCase(caseId);
        if (c.verdict != Verdict.None) revert CaseReviewed(caseId);
        if (verdict == Verdict.None) revert InvalidVerdict();
        address patient = c.patient;
        address organisation = c.organisation;
        if (actor != organisation && !_isManager(actor, patient)) revert NotReviewer(actor, caseId);
        c.verdict = verdict;
        _staff[account].openCases -= 1;
        if (_emergencyCases[patient][account] == caseId) delete _emergencyCases[patient][account];
        emit BreakGlassClosed(caseId, patient, organisation, account, verdict, actor);
    }

    // ------------------------------------------------------------------------------------------------
    // Checks
    // ------------------------------------------------------------------------------------------------

    /// @dev Governance acts only as itself, never through the forwarder, whatever a call's last 20 bytes say.
    function _checkOwner() internal view override {
        if (msg.sender != owner()) revert OwnableUnauthorizedAccount(msg.sender);
    }

    /// @dev The forwarder names the signer in the last 20 bytes of its call; anyone else acts as themselves.
    function _msgSender() internal view override returns (address) {
        if (msg.sender == forwarder && msg.data.length >= 20) return address(bytes20(msg.data[msg.data.length - 20:]));
        return msg.sender;
    }

    /// @dev An address holds at most one part: organisation, staff (even once removed), patient or device.
    function _checkUnused(address account) private view {
        if (
            account == address(0) || _organisations[account] != OrganisationStatus.None || _staff[account].since != 0
                || _patients[account].registered || _devices[account].patient != address(0)
        ) revert AccountInUse(account);
    }

    /// @dev A scope reads at least one category and writes only categories it reads.
    function _checkScope(uint64 readMask, uint64 writeMask) private pure {
        if (readMask == 0 || writeMask & ~readMask != 0) revert InvalidScope(readMask, writeMask);
    }

    function _checkPatient(address account) private view {
        if (!_patients[account].registered) revert NotPatient(account);
    }

    function _checkCategory(uint8 category) private pure {
        if (category > MAX_CATEGORY) revert InvalidCategory(category);
    }

    function _checkHasKey(address account) private view {
        if (_keys[account].prefix == 0) revert MissingEncryptionKey(account);
    }

    function _checkSealedKey(bytes calldata sealedKey) private pure {
        if (sealedKey.length == 0 || sealedKey.length > _MAX_SEALED_KEY_LENGTH) {
            revert InvalidSealedKey(sealedKey.length);
        }
    }

    function _checkManager(address actor, address patient) private view {
        if (!_isManager(actor, patient)) revert NotManager(actor, patient);
    }

    /// @dev `patient`'s keys of `category` are published by a manager or, for the emergency category, by the
    /// custodian. Returns whether it is the custodian.
    function _checkPublisher(address publisher, address patient, uint8 category) private view returns (bool) {
        if (_isManager(publisher, patient)) return false;
        // The custodian's one task: the emergency key, to staff who broke the glass.
        if (category != EMERGENCY_CATEGORY || publisher != _patients[patient].custodian) {
            revert NotPublisher(publisher, patient);
        }
        return true;
    }

    /// @dev From a manager, a key goes to whoever may read what it opens (`readable`) or, for the emergency category,
    /// to the custodian; from the custodian, only to staff holding emergency access. The recipient needs a key.
    function _checkRecipient(address patient, uint8 category, address recipient, bool fromCustodian, bool readable)
        private
        view
    {
        bool entitled = fromCustodian
            ? _hasEmergencyAccess(patient, recipient)
            : readable || (category == EMERGENCY_CATEGORY && recipient == _patients[patient].custodian);
        if (!entitled) revert NotEntitled(recipient);
        _checkHasKey(recipient);
    }

    function _checkRecordKeyRecipient(uint256 recordId, address recipient, bool fromCustodian) private view {
        bool readable = !fromCustodian && canRead(recordId, recipient);
        _checkRecipient(recordId.patient(), recordId.category(), recipient, fromCustodian, readable);
    }

    function _pendingRequest(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.status != RequestStatus.Pending) revert RequestAnswered(requestId);
    }

    function _isManager(address actor, address patient) private view returns (bool) {
        return actor == patient || _guardians[patient][actor] & POWER_MANAGE != 0;
    }

    /// @dev Staff since (at the latest) `grantedAt`, licensed now, in an organisation active now. A grant made in the
    /// very second its grantee was re-added holds: the patient consented to them as they are.
    /// @dev On what grounds `account` may read `patient`'s `category` now ({hasAccess}).
    function _accessBasis(address patient, address account, uint8 category) private view returns (ReadBasis) {
        if (category > MAX_CATEGORY) return ReadBasis.None;
        if (account == patient) return ReadBasis.Patient;
        if (_guardians[patient][account] & POWER_READ != 0) return ReadBasis.Guardian;
        Grant memory g = _grants[patient][account];
        if (
            g.readMask & (uint64(1) << category) != 0 && block.timestamp < g.expiry
                && _isLiveStaff(account, g.grantedAt)
        ) {
            return ReadBasis.CategoryGrant;
        }
        if (category == EMERGENCY_CATEGORY && _hasEmergencyAccess(patient, account)) return ReadBasis.Emergency;
        return ReadBasis.None;
    }

    function _isLiveStaff(address account, uint40 grantedAt) private view returns (bool) {
        Staff memory s = _staff[account];
        return s.role != Role.None && grantedAt >= s.since && block.timestamp < s.licenceExpiry
            && _organisations[s.organisation] == OrganisationStatus.Active;
    }

    /// @dev A device of the patient registered for the category, or live staff with a live write grant for it.
    function _isWriter(address account, address patient, uint8 category) private view returns (bool) {
        Device memory d = _devices[account];
        if (d.patient != address(0)) return d.patient == patient && d.category == category;
        Grant memory g = _grants[patient][account];
        return
            g.writeMask & (uint64(1) << category) != 0 && block.timestamp < g.expiry
                && _isLiveStaff(account, g.grantedAt);
    }

    function _hasEmergencyAccess(address patient, address account) private view returns (bool) {
        uint256 caseId = _emergencyCases[patient][account];
        if (caseId == 0) return false;
        EmergencyCase storage c = _cases[caseId];
        // slither-disable-next-line incorrect-equality (a case is open exactly while it has no verdict)
        return c.verdict == Verdict.None && block.timestamp < c.expiresAt && _staff[account].role == Role.Emergency
            && _isLiveStaff(account, c.openedAt);
    }

    function _recordDigest(bytes calldata cid, bytes32 ciphertextHash) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(cid, ciphertextHash));
    }
}
