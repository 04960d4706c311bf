/**
 * The page's cryptography, byte-compatible with `medvault_core`: the record
 * format ({@link ./record}), key envelopes ({@link ./envelope}), category
 * keys and wrapping ({@link ./wrap}), and the encryption key derived from a
 * wallet signature ({@link ./keys}). Symmetric work is WebCrypto's; the
 * secp256k1 work is eciesjs's. `web/test/unit` checks every byte against the
 * vectors the Rust side writes or checks.
 */
export { type Bytes, concatBytes, equalBytes, randomBytes, toBytes } from './bytes';
export {
  ENVELOPE_OVERHEAD,
  EPHEMERAL_KEY_LEN,
  EnvelopeError,
  type EnvelopeErrorKind,
  open,
  parsePublicKey,
  seal,
} from './envelope';
export {
  ENCRYPTION_KEY_PURPOSE,
  EncryptionKey,
  type EncryptionKeyMessage,
  KEY_LEN,
  KeyError,
  type KeyErrorKind,
  checkRegistered,
  deriveEncryptionKey,
  encryptionKeyMessage,
} from './keys';
export {
  DEFAULT_SEGMENT_SIZE,
  type DecryptOptions,
  type EncryptOptions,
  type EncryptedRecord,
  HEADER_LEN,
  type Header,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  NONCE_PREFIX_LEN,
  type Progress,
  RecordError,
  type RecordErrorKind,
  type Sealed,
  TAG_LEN,
  collect,
  decryptBytes,
  decryptRecord,
  encodeHeader,
  encryptBytes,
  encryptRecord,
  fingerprintOf,
  parseHeader,
  recordLength,
  streamOf,
} from './record';
export {
  type CategoryKey,
  type CategoryKeyId,
  WRAPPED_KEY_LEN,
  describeCategoryKeyId,
  generateCategoryKey,
  generateKey,
  openPrevious,
  sameCategoryKeyId,
  sealPrevious,
  unwrapDataKey,
  wrapDataKey,
} from './wrap';
