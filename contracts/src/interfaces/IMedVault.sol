// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IMedVault
/// @notice Who may see what in MedVault: organisations and their staff, patients and their guardians and
/// devices, consent (category grants, record grants, requests), record headers, key envelopes, alerts,
/// break-glass emergency access and anchors of the gateway's access log.
/// @dev Everything here is public. Nothing medical or identifying is stored or emitted: records are
/// ciphertext on IPFS, named by CID and SHA-256; purposes and reasons are hashes; alerts carry a severity.
/// Every patient, guardian, organisation and staff action can also arrive signed (EIP-712) through the
/// {IMedVaultForwarder} this contract deploys, so that a relayer pays the gas. Categories are 0 to 63; a
/// scope is a bitmask of them (bit `c` for category `c`).
interface IMedVault {
    // ------------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------------

    /// @notice What a staff member does. `None` marks a removed staff member.
    enum Role {
        None,
        Doctor,
        Nurse,
        Lab,
        Emergency
    }

    /// @notice Where an organisation stands with governance.
    enum OrganisationStatus {
        None,
        Active,
        Suspended
    }

    /// @notice Where a staff member's access request stands.
    enum RequestStatus {
        None,
        Pending,
        Approved,
        Denied
    }

    /// @notice On what grounds an account may read a record now ({readBasis}): `None` if on none. The
    /// patient, a read guardian, staff with a live category grant, staff with live break-glass access
    /// (emergency category), or staff with a live grant on the record itself, checked in that order.
    enum ReadBasis {
        None,
        Patient,
        Guardian,
        CategoryGrant,
        Emergency,
        RecordGrant
    }

    /// @notice How a break-glass case was reviewed. `None` while it is open.
    enum Verdict {
        None,
        Justified,
        Abuse
    }

    /// @notice A staff member as the contract holds them.
    /// @param organisation The organisation that added them.
    /// @param role Their role; `None` once removed.
    /// @param licenceExpiry The first second at which their licence is no longer valid.
    /// @param since When they were last added. Only grants made since then hold, so removing and re-adding a
    /// staff member does not revive old grants, and a grant made before an address became staff never holds.
    /// @param openCases Break-glass cases they opened that are not reviewed yet.
    struct Staff {
        address organisation;
        Role role;
        uint40 licenceExpiry;
        uint40 since;
        uint8 openCases;
    }

    /// @notice A category grant from a patient to a staff member.
    /// @param readMask The categories the grantee may read.
    /// @param writeMask The categories the grantee may add records to (a subset of `readMask`).
    /// @param expiry The first second at which the grant no longer holds.
    /// @param grantedAt When the grant was made.
    struct Grant {
        uint64 readMask;
        uint64 writeMask;
        uint40 expiry;
        uint40 grantedAt;
    }

    /// @notice A staff member's request for access to a patient's records.
    struct Request {
        address patient;
        uint64 readMask;
        RequestStatus status;
        address staff;
        uint64 writeMask;
        uint32 duration;
    }

    /// @notice A break-glass case.
    /// @param staff The emergency staff member who opened it.
    /// @param expiresAt The first second at which the emergency access ends.
    /// @param verdict `None` while the case is open, then the reviewer's verdict.
    /// @param openedAt When the case was opened.
    /// @param patient Whose emergency category was opened.
    /// @param organisation The staff member's organisation when the case was opened.
    struct EmergencyCase {
        address staff;
        uint40 expiresAt;
        Verdict verdict;
        uint40 openedAt;
        address patient;
        address organisation;
    }

    /// @notice A record header as submitted. The author is the caller (or the signer).
    /// @param patient Whose record it is.
    /// @param category The record's category (0 to 63).
    /// @param cid The binary CID of the ciphertext on IPFS.
    /// @param ciphertextHash The SHA-256 of the ciphertext.
    /// @param wrappedKey The record's data key wrapped under the category key of `epoch`; empty when the author
    /// has no category key and publishes record-level envelopes instead.
    /// @param epoch The category key epoch `wrappedKey` was made under.
    /// @param amends The id of the record this one amends, or 0.
    struct RecordInput {
        address patient;
        uint8 category;
        bytes cid;
        bytes32 ciphertextHash;
        bytes wrappedKey;
        uint32 epoch;
        uint256 amends;
    }

    /// @notice An ECIES envelope of a key, sealed to `recipient`'s registered encryption key.
    struct Envelope {
        address recipient;
        bytes sealedKey;
    }

    // ------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------

    /// @notice `account` is not an active organisation.
    error NotActiveOrganisation(address account);
    /// @notice `account` is not an organisation.
    error NotOrganisation(address account);
    /// @notice The organisation is not suspended, so it cannot be restored.
    error NotSuspended(address organisation);
    /// @notice `account` already holds another part (organisation, staff, patient or device).
    error AccountInUse(address account);
    /// @notice `account` is not (or no longer) a staff member.
    error NotStaff(address account);
    /// @notice `staff` belongs to `organisation`, not to the caller.
    error StaffOfOtherOrganisation(address staff, address organisation);
    /// @notice `role` is not a staff role.
    error InvalidRole(Role role);
    /// @notice The licence expiry is not in the future.
    error InvalidLicenceExpiry(uint40 licenceExpiry);
    /// @notice `account` is not a registered patient.
    error NotPatient(address account);
    /// @notice An encryption key must be 33 bytes, a compressed secp256k1 point (prefix 0x02 or 0x03).
    error InvalidEncryptionKey(uint256 length);
    /// @notice `account` has not registered an encryption key.
    error MissingEncryptionKey(address account);
    /// @notice `caller` may not manage `patient`'s consent: they are neither the patient nor a manage guardian.
    error NotManager(address caller, address patient);
    /// @notice Categories run from 0 to 63.
    error InvalidCategory(uint8 category);
    /// @notice A scope needs at least one category and may only write categories it reads.
    error InvalidScope(uint64 readMask, uint64 writeMask);
    /// @notice The expiry is not in the future.
    error InvalidExpiry(uint40 expiry);
    /// @notice `grantee` holds no category grant from `patient`.
    error NoGrant(address patient, address grantee);
    /// @notice `grantee` holds no grant on record `recordId`.
    error NoRecordGrant(uint256 recordId, address grantee);
    /// @notice No record has id `recordId`.
    error UnknownRecord(uint256 recordId);
    /// @notice A CID is 34 to 64 bytes.
    error InvalidCid(uint256 length);
    /// @notice A wrapped data key is at most 128 bytes.
    error InvalidWrappedKey(uint256 length);
    /// @notice `epoch` is not the category's current key epoch, `current`.
    error StaleEpoch(uint32 epoch, uint32 current);
    /// @notice An amendment must amend an existing record of the same patient and category.
    error InvalidAmendment(uint256 amends);
    /// @notice `caller` may not add records or raise alerts in `patient`'s `category`.
    error NotWriter(address caller, address patient, uint8 category);
    /// @notice No request has id `requestId`.
    error UnknownRequest(uint256 requestId);
    /// @notice Request `requestId` was already answered.
    error RequestAnswered(uint256 requestId);
    /// @notice A requested duration is 1 second to 10 years.
    error InvalidDuration(uint32 duration);
    /// @notice Guardian powers are a non-empty combination of manage (1) and read (2).
    error InvalidPowers(uint8 powers);
    /// @notice `guardian` is not a guardian of `patient`.
    error NotGuardian(address patient, address guardian);
    /// @notice A patient cannot be their own guardian, device or custodian.
    error SelfReference(address patient);
    /// @notice `device` is not a device of `patient`.
    error NotDevice(address patient, address device);
    /// @notice `caller` may not publish `patient`'s keys.
    error NotPublisher(address caller, address patient);
    /// @notice `recipient` is not entitled to the key: they hold no access that needs it.
    error NotEntitled(address recipient);
    /// @notice A sealed key is 1 to 256 bytes.
    error InvalidSealedKey(uint256 length);
    /// @notice At most 16 envelopes go with a record.
    error TooManyEnvelopes(uint256 count);
    /// @notice Severity runs from 1 to 3.
    error InvalidSeverity(uint8 severity);
    /// @notice `account` is not live emergency staff of an active organisation.
    error NotEmergencyStaff(address account);
    /// @notice `staff` has `openCases` unreviewed break-glass cases, the most allowed.
    error TooManyOpenCases(address staff, uint8 openCases);
    /// @notice `staff` already holds live emergency access to `patient`.
    error EmergencyAccessOpen(address patient, address staff);
    /// @notice No break-glass case has id `caseId`.
    error UnknownCase(uint256 caseId);
    /// @notice Case `caseId` was already reviewed.
    error CaseReviewed(uint256 caseId);
    /// @notice A verdict is `Justified` or `Abuse`.
    error InvalidVerdict();
    /// @notice `caller` is neither the case's patient nor its organisation.
    error NotReviewer(address caller, uint256 caseId);
    /// @notice `account` does not hold the relayer role.
    error NotRelayer(address account);
    /// @notice Anchor sequence numbers only increase: `sequence` is not above `last`.
    error StaleSequence(uint64 sequence, uint64 last);
    /// @notice Governance cannot be renounced: organisations would be frozen as they are.
    error RenounceDisabled();

    // ------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------

    /// @notice Governance added an active organisation.
    event OrganisationAdded(address indexed organisation);
    /// @notice Governance suspended an organisation: its staff's grants stop working at once.
    event OrganisationSuspended(address indexed organisation);
    /// @notice Governance restored a suspended organisation.
    event OrganisationRestored(address indexed organisation);
    /// @notice Governance gave or took the relayer role.
    event RelayerSet(address indexed relayer, bool enabled);
    /// @notice An organisation added a staff member, or changed their role or licence.
    event StaffAdded(
        address indexed organisation, address indexed staff, Role role, uint40 licenceExpiry, uint40 since
    );
    /// @notice An organisation removed a staff member: their grants stop working at once.
    event StaffRemoved(address indexed organisation, address indexed staff);
    /// @notice A patient registered.
    event PatientRegistered(address indexed patient);
    /// @notice A participant registered or rotated their encryption public key (33 bytes, compressed).
    event EncryptionKeySet(address indexed account, bytes key);
    /// @notice A patient added a guardian or changed their powers.
    event GuardianSet(address indexed patient, address indexed guardian, uint8 powers);
    /// @notice A patient removed a guardian.
    event GuardianRemoved(address indexed patient, address indexed guardian);
    /// @notice A patient registered a device that may append records in `category`.
    event DeviceAdded(address indexed patient, address indexed device, uint8 category);
    /// @notice A patient removed a device.
    event DeviceRemoved(address indexed patient, address indexed device);
    /// @notice A patient named (or, with the zero address, cleared) their emergency key custodian.
    event EmergencyCustodianSet(address indexed patient, address indexed custodian);
    /// @notice A record header was added by `author`. `recordId` encodes the patient, the category and a sequence
    /// number; `record` is the header as submitted.
    event RecordAdded(uint256 indexed recordId, address indexed patient, address indexed author, RecordInput record);
    /// @notice `grantedBy` (the patient or a manage guardian) set `grantee`'s category grant.
    event Granted(
        address indexed patient,
        address indexed grantee,
        address indexed grantedBy,
        uint64 readMask,
        uint64 writeMask,
        uint40 expiry
    );
    /// @notice `revokedBy` revoked `grantee`'s category grant.
    event Revoked(address indexed patient, address indexed grantee, address indexed revokedBy);
    /// @notice `grantee` may read record `recordId` until `expiry`.
    event RecordGranted(uint256 indexed recordId, address indexed grantee, address indexed grantedBy, uint40 expiry);
    /// @notice `grantee`'s grant on record `recordId` was revoked.
    event RecordRevoked(uint256 indexed recordId, address indexed grantee, address indexed revokedBy);
    /// @notice A staff member asked a patient for access. `purposeHash` hashes a purpose kept off chain.
    event AccessRequested(
        uint256 indexed requestId,
        address indexed patient,
        address indexed staff,
        uint64 readMask,
        uint64 writeMask,
        uint32 duration,
        bytes32 purposeHash
    );
    /// @notice The request was approved and the grant it asked for made.
    event RequestApproved(uint256 indexed requestId, address indexed patient, address indexed staff, uint40 expiry);
    /// @notice The request was denied.
    event RequestDenied(uint256 indexed requestId, address indexed patient, address indexed staff);
    /// @notice A category key for (`patient`, `category`, `epoch`) was sealed to `recipient`.
    event CategoryKeyPublished(
        address indexed patient,
        address indexed recipient,
        uint8 indexed category,
        uint32 epoch,
        address publisher,
        bytes sealedKey
    );
    /// @notice Record `recordId`'s data key was sealed to `recipient`.
    event RecordKeyPublished(
        uint256 indexed recordId, address indexed recipient, address indexed publisher, bytes sealedKey
    );
    /// @notice `patient`'s `category` moved to `epoch`; `sealedPreviousKey` is the previous epoch's key sealed
    /// under the new one.
    event CategoryKeyRotated(
        address indexed patient, uint8 indexed category, uint32 epoch, address rotatedBy, bytes sealedPreviousKey
    );
    /// @notice An abnormal reading: severity 1 (watch) to 3 (critical). No values.
    event AlertRaised(address indexed patient, uint256 indexed recordId, address indexed raisedBy, uint8 severity);
    /// @notice Emergency staff broke the glass on `patient`'s emergency category until `expiresAt`.
    event BreakGlassOpened(
        uint256 indexed caseId,
        address indexed patient,
        address indexed organisation,
        address staff,
        bytes32 reasonHash,
        uint40 expiresAt
    );
    /// @notice A break-glass case was reviewed and closed; the emergency access ended.
    event BreakGlassClosed(
        uint256 indexed caseId,
        address indexed patient,
        address indexed organisation,
        address staff,
        Verdict verdict,
        address closedBy
    );
    /// @notice The relayer anchored the hash of the gateway's access log up to `sequence`.
    event AccessLogAnchored(uint64 indexed sequence, bytes32 logHash, address indexed relayer);

    // ------------------------------------------------------------------------------------------------
    // Governance
    // ------------------------------------------------------------------------------------------------

    /// @notice Adds an active organisation. Governance only.
    /// @param organisation The organisation's account, which then adds its staff.
    function addOrganisation(address organisation) external;

    /// @notice Suspends an organisation: its staff's grants, requests and emergency access stop working at once.
    /// Governance only.
    function suspendOrganisation(address organisation) external;

    /// @notice Restores a suspended organisation. Governance only.
    function restoreOrganisation(address organisation) external;

    /// @notice Gives or takes the relayer role, which anchors the access log. Governance only.
    function setRelayer(address relayer, bool enabled) external;

    // ------------------------------------------------------------------------------------------------
    // Identities
    // ------------------------------------------------------------------------------------------------

    /// @notice Adds a staff member to the calling organisation, or changes the role and licence of one of its own.
    /// @param account The staff member's account.
    /// @param role Doctor, nurse, lab or emergency.
    /// @param licenceExpiry The first second at which the licence is no longer valid.
    function addStaff(address account, Role role, uint40 licenceExpiry) external;

    /// @notice Removes a staff member from the calling organisation. Their grants stop working at once and do
    /// not come back if they are added again.
    function removeStaff(address account) external;

    /// @notice Registers the caller as a patient with their encryption public key.
    /// @param encryptionKey A compressed secp256k1 public key (33 bytes).
    function register(bytes calldata encryptionKey) external;

    /// @notice Registers or rotates the caller's encryption public key. Any participant.
    /// @param encryptionKey A compressed secp256k1 public key (33 bytes).
    function setEncryptionKey(bytes calldata encryptionKey) external;

    /// @notice Adds a guardian of the calling patient, or changes their powers.
    /// @param guardian An account with a registered encryption key.
    /// @param powers 1 (manage consent), 2 (read) or 3 (both).
    function setGuardian(address guardian, uint8 powers) external;

    /// @notice Removes a guardian of the calling patient.
    function removeGuardian(address guardian) external;

    /// @notice Registers a device that may append records in one category (vitals) of the calling patient.
    function addDevice(address device, uint8 category) external;

    /// @notice Removes a device of the calling patient.
    function removeDevice(address device) external;

    /// @notice Names the calling patient's emergency key custodian, who may seal the emergency category key to
    /// staff holding a break-glass case. The zero address clears it.
    function setEmergencyCustodian(address custodian) external;

    // ------------------------------------------------------------------------------------------------
    // Records
    // ------------------------------------------------------------------------------------------------

    /// @notice Adds a record header. The caller is the patient, staff with a live write grant for the category,
    /// or a device of the patient registered for the category.
    /// @param record The header.
    /// @param envelopes Record-level envelopes of the record's data key, for authors without the category key;
    /// each recipient must be entitled to read the record.
    /// @return recordId The new record's id.
    function addRecord(RecordInput calldata record, Envelope[] calldata envelopes) external returns (uint256 recordId);

    /// @notice Raises an alert on a record: a device of the patient, or staff with a live write grant for the
    /// record's category.
    /// @param recordId The record the alert is about.
    /// @param severity 1 (watch), 2 (urgent) or 3 (critical).
    function raiseAlert(uint256 recordId, uint8 severity) external;

    // ------------------------------------------------------------------------------------------------
    // Consent
    // ------------------------------------------------------------------------------------------------

    /// @notice Sets `grantee`'s category grant from `patient`, replacing any earlier one. The caller is the
    /// patient or one of their manage guardians. The grantee should be staff: the grantee's staff record is not
    /// read here (it would cost a tenth of the grant), and a grant to an address that is not staff when it is
    /// made can never hold. Clients check {staff} before they ask a patient to sign.
    /// @param readMask The categories the grantee may read.
    /// @param writeMask The categories the grantee may add records to; a subset of `readMask`.
    /// @param expiry The first second at which the grant no longer holds.
    function grant(address patient, address grantee, uint64 readMask, uint64 writeMask, uint40 expiry) external;

    /// @notice Revokes `grantee`'s category grant from `patient`. The caller is the patient or a manage guardian.
    function revoke(address patient, address grantee) external;

    /// @notice Lets a staff member read one record until `expiry`. The caller is the record's patient or one of
    /// their manage guardians. As with {grant}, a grant to an address that is not staff never holds.
    function grantRecord(uint256 recordId, address grantee, uint40 expiry) external;

    /// @notice Revokes a grant on one record.
    function revokeRecord(uint256 recordId, address grantee) external;

    /// @notice Asks `patient` for access. The caller is a staff member.
    /// @param duration How long the grant should last once approved, in seconds.
    /// @param purposeHash The hash of the purpose, kept off chain.
    /// @return requestId The request's id.
    function requestAccess(address patient, uint64 readMask, uint64 writeMask, uint32 duration, bytes32 purposeHash)
        external
        returns (uint256 requestId);

    /// @notice Approves a pending request, making the grant it asked for from now for its duration. The caller is
    /// the patient or a manage guardian.
    function approveRequest(uint256 requestId) external;

    /// @notice Denies a pending request. The caller is the patient or a manage guardian.
    function denyRequest(uint256 requestId) external;

    // ------------------------------------------------------------------------------------------------
    // Key envelopes
    // ------------------------------------------------------------------------------------------------

    /// @notice Publishes the category key of (`patient`, `category`, `epoch`) sealed to a recipient. `epoch` must
    /// be the current one, so that a key sealed just before a rotation is not filed under the new epoch. The
    /// caller is the patient, a manage guardian or, for the emergency category and a recipient holding a
    /// break-glass case, the patient's emergency custodian. The recipient is the patient, a read guardian, the
    /// custodian (emergency category) or staff with live read access to the category.
    function publishCategoryKey(address patient, uint8 category, uint32 epoch, Envelope calldata envelope) external;

    /// @notice Publishes a record's data key sealed to a recipient entitled to read the record (or to the
    /// custodian, for an emergency record). The caller is the patient, a manage guardian or, for an emergency
    /// record and a recipient holding a break-glass case, the emergency custodian.
    function publishRecordKey(uint256 recordId, Envelope calldata envelope) external;

    /// @notice Starts a new epoch of `patient`'s `category` key. The caller is the patient or a manage guardian.
    /// @param sealedPreviousKey The previous epoch's key sealed under the new one.
    /// @return epoch The new epoch.
    function rotateCategoryKey(address patient, uint8 category, bytes calldata sealedPreviousKey)
        external
        returns (uint32 epoch);

    // ------------------------------------------------------------------------------------------------
    // Break-glass
    // ------------------------------------------------------------------------------------------------

    /// @notice Opens emergency access to `patient`'s emergency category for 12 hours. The caller is live
    /// emergency staff of an active organisation with fewer than 3 unreviewed cases.
    /// @param reasonHash The hash of the reason, kept off chain.
    /// @return caseId The case's id.
    function openBreakGlass(address patient, bytes32 reasonHash) external returns (uint256 caseId);

    /// @notice Reviews and closes a break-glass case, ending its access. The caller is the patient (or a manage
    /// guardian) or the case's organisation.
    function closeBreakGlass(uint256 caseId, Verdict verdict) external;

    // ------------------------------------------------------------------------------------------------
    // Access log
    // ------------------------------------------------------------------------------------------------

    /// @notice Anchors the hash of the gateway's access log up to `sequence`. Relayers only.
    function anchorAccessLog(uint64 sequence, bytes32 logHash) external;

    /// @notice The forwarder through which signed actions arrive, deployed by this contract. A call from it
    /// acts as the signer named in the last 20 bytes of its calldata.
    function forwarder() external view returns (address);

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice Whether `account` may read `patient`'s `category` now: the patient, a read guardian, staff with a
    /// live category grant (not expired, their licence valid, their organisation active) or staff with live
    /// break-glass access (emergency category).
    function hasAccess(address patient, address account, uint8 category) external view returns (bool);

    /// @notice Whether `reader` may read record `recordId` now: {hasAccess} on its category, or a live grant on
    /// the record itself.
    function canRead(uint256 recordId, address reader) external view returns (bool);

    /// @notice On what grounds `reader` may read record `recordId` now, `None` when {canRead} is false: what an
    /// access log names beside each read, in the same call as the permission.
    function readBasis(uint256 recordId, address reader) external view returns (ReadBasis);

    /// @notice Whether record `recordId` exists with this CID and ciphertext hash.
    function verifyRecord(uint256 recordId, bytes calldata cid, bytes32 ciphertextHash) external view returns (bool);

    /// @notice The number of records `patient` has added (the last record's sequence number).
    function recordCount(address patient) external view returns (uint88);

    /// @notice The organisation's status.
    function organisationStatus(address organisation) external view returns (OrganisationStatus);

    /// @notice The staff member as stored (role `None` if never added or removed).
    function staff(address account) external view returns (Staff memory);

    /// @notice Whether `account` is a registered patient.
    function isPatient(address account) external view returns (bool);

    /// @notice `account`'s encryption public key (33 bytes), or empty if none is registered.
    function encryptionKey(address account) external view returns (bytes memory);

    /// @notice The powers `guardian` holds for `patient` (0 if none).
    function guardianPowers(address patient, address guardian) external view returns (uint8);

    /// @notice The patient a device belongs to and its category (the zero address if none).
    function device(address account) external view returns (address patient, uint8 category);

    /// @notice The patient's emergency key custodian (the zero address if none).
    function emergencyCustodian(address patient) external view returns (address);

    /// @notice `grantee`'s category grant from `patient`, as stored (it may have lapsed).
    function grantOf(address patient, address grantee) external view returns (Grant memory);

    /// @notice The expiry of `grantee`'s grant on record `recordId` (0 if none).
    function recordGrantExpiry(uint256 recordId, address grantee) external view returns (uint40);

    /// @notice A request as stored.
    function request(uint256 requestId) external view returns (Request memory);

    /// @notice A break-glass case as stored.
    function emergencyCase(uint256 caseId) external view returns (EmergencyCase memory);

    /// @notice The current key epoch of `patient`'s `category`.
    function categoryEpoch(address patient, uint8 category) external view returns (uint32);

    /// @notice Whether `account` holds the relayer role.
    function isRelayer(address account) external view returns (bool);

    /// @notice The sequence number of the last access-log anchor.
    function lastAnchorSequence() external view returns (uint64);
}
