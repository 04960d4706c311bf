/**
 * MedVault's protocol as the page speaks it: the EIP-712 actions the wallet
 * signs and the gateway relays ({@link ./typed}), the key ring that finds a
 * record's data key ({@link ./keyring}), and the client side of the
 * gateway's upload ({@link ./upload}). Built on {@link ../crypto}.
 */
export {
  ACTION_NAMES,
  ACTION_TYPES,
  type Action,
  type ActionFields,
  type ActionName,
  type ActionOf,
  type ActionTypedData,
  type Authorisation,
  DOMAIN_NAME,
  DOMAIN_VERSION,
  ENVELOPE_TYPE,
  type Envelope,
  actionDigest,
  actionMessage,
  actionTypedData,
  forwarderDomain,
} from './typed';
export {
  type CategoryEnvelope,
  KeyRing,
  type KeySource,
  type RecordGrant,
  type RecordKeys,
  type Rotation,
  openKey,
  recordKeyFromGrant,
  sealKeyTo,
} from './keyring';
export {
  type GatewayUpload,
  type ToSign,
  UploadError,
  type UploadErrorKind,
  type UploadParams,
  addRecordAction,
  checkToSign,
  cidBytes,
  cidText,
  parseU256,
  uploadQuery,
} from './upload';
export { bySigFunction, forwarderAbi, relayCalldata } from './forwarder';
