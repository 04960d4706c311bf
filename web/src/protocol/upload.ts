/**
 * The client side of the gateway's two-step upload (docs/gateway-records.md),
 * as `medvault patient upload` does it:
 *
 * 1. `POST /v1/records?{@link uploadQuery}` with the record (encrypted here,
 *    {@link ../crypto/record}) as the body; the gateway stores it in Kubo and
 *    answers {@link ToSign}: the upload (CID, SHA-256, ...), the author's
 *    forwarder nonce, and the `AddRecord` digest it will submit.
 * 2. The page rebuilds `AddRecord` from what it computed itself
 *    ({@link addRecordAction}), checks that the gateway's hash and digest are
 *    the same ({@link checkToSign}), has the wallet sign it, and posts
 *    `{ deadline, signature }` to `/v1/uploads/{id}/commit`.
 */
import { type Address, type Hex, type TypedDataDomain, bytesToHex, getAddress, hexToBigInt, isHex } from 'viem';

import { type ActionOf, actionDigest } from './typed';

/** Why the gateway's answer to an upload is not signed. */
export type UploadErrorKind =
  /** The gateway stored a record whose SHA-256 differs from the one encrypted here. */
  | 'hash-mismatch'
  /** The gateway asked to sign another record than the one uploaded. */
  | 'digest-mismatch'
  /** A CID that is neither base32 text (`bafk...`) nor `0x` hex. */
  | 'bad-cid';

/** A refused upload answer. */
export class UploadError extends Error {
  override readonly name = 'UploadError';

  constructor(
    readonly kind: UploadErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The query of a client-side upload: the record's key material. */
export interface UploadParams {
  /** Whose record. */
  readonly patient: Address;
  /** Its category. */
  readonly category: number;
  /** The signature deadline, unix seconds. */
  readonly deadline: bigint | number;
  /** The epoch of `wrappedKey`. */
  readonly epoch?: number;
  /** The data key wrapped under the category key. */
  readonly wrappedKey?: Hex;
  /** Record-level envelopes (writers without the category key). */
  readonly envelopes?: readonly { readonly recipient: Address; readonly sealedKey: Hex }[];
}

/** The query string of `POST /v1/records`, as the CLI's `UploadParams::pairs` writes it. */
export function uploadQuery(params: UploadParams): URLSearchParams {
  const query = new URLSearchParams({
    patient: getAddress(params.patient).toLowerCase(),
    category: String(params.category),
    deadline: String(params.deadline),
  });
  if (params.epoch !== undefined) query.append('epoch', String(params.epoch));
  if (params.wrappedKey !== undefined) query.append('wrappedKey', params.wrappedKey);
  if (params.envelopes !== undefined) {
    query.append('envelopes', JSON.stringify(params.envelopes.map((e) => [getAddress(e.recipient), e.sealedKey])));
  }
  return query;
}

/** A pending upload as the gateway answers it (`medvault_gateway::pending::Upload`). */
export interface GatewayUpload {
  readonly id: string;
  readonly author: Address;
  readonly patient: Address;
  readonly category: number;
  readonly epoch: number;
  readonly wrapped_key: Hex;
  /** A U256, `0x` hex. */
  readonly amends: Hex | string;
  readonly envelopes: readonly (readonly [Address, Hex])[];
  /** The CID as Kubo prints it (`bafk...`). */
  readonly cid: string;
  readonly sha256: Hex;
  readonly size: number;
}

/** What the author of an upload is asked to sign (`medvault_gateway::upload::ToSign`). */
export interface ToSign {
  readonly upload: GatewayUpload;
  /** The author's forwarder nonce, a U256 as `0x` hex. */
  readonly nonce: Hex | string;
  /** The `AddRecord` typed data the gateway built. */
  readonly typed_data: unknown;
  /** Its EIP-712 digest. */
  readonly signing_hash: Hex;
}

/** A U256 the gateway sends as `0x` hex (or, to be safe, decimal). */
export function parseU256(value: Hex | string | number): bigint {
  if (typeof value === 'number') return BigInt(value);
  return isHex(value) ? hexToBigInt(value) : BigInt(value);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * The binary CID (as the chain stores it) of Kubo's text form: multibase
 * base32 lower case (`b` then RFC 4648 without padding, `bafk...`); the
 * indexer's `0x` hex is taken as it is.
 */
export function cidBytes(cid: string): Hex {
  if (cid.startsWith('0x')) {
    if (!isHex(cid, { strict: true }) || cid.length <= 2) throw new UploadError('bad-cid', `${cid} is not a CID`);
    return cid as Hex;
  }
  if (!cid.startsWith('b') || cid.length < 2) throw new UploadError('bad-cid', `${cid} is not a base32 CID`);
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of cid.slice(1).toLowerCase()) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) throw new UploadError('bad-cid', `${cid} is not a base32 CID`);
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  return bytesToHex(Uint8Array.from(out));
}

/** The text form of a binary CID, as Kubo prints it (`b` + base32 lower case). */
export function cidText(cid: Uint8Array): string {
  let text = 'b';
  let bits = 0;
  let value = 0;
  for (const byte of cid) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += BASE32[(value >> bits) & 31];
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) text += BASE32[(value << (5 - bits)) & 31];
  return text;
}

/** The `AddRecord` action for an upload the gateway stored. */
export function addRecordAction(upload: GatewayUpload): ActionOf<'AddRecord'> {
  return {
    type: 'AddRecord',
    patient: getAddress(upload.patient),
    category: upload.category,
    cid: cidBytes(upload.cid),
    ciphertextHash: upload.sha256,
    wrappedKey: upload.wrapped_key,
    epoch: upload.epoch,
    amends: parseU256(upload.amends),
    envelopes: upload.envelopes.map(([recipient, sealedKey]) => ({ recipient: getAddress(recipient), sealedKey })),
  };
}

/**
 * Checks the gateway's answer before anything is signed: the record it
 * stored has the fingerprint computed here (client-side encryption), and
 * the digest it will submit is the one of the `AddRecord` rebuilt here.
 * Returns the action to sign with the nonce the gateway named.
 */
export function checkToSign(
  toSign: ToSign,
  domain: TypedDataDomain,
  signer: Address,
  deadline: bigint,
  fingerprint?: Hex,
): { action: ActionOf<'AddRecord'>; nonce: bigint } {
  if (fingerprint !== undefined && toSign.upload.sha256.toLowerCase() !== fingerprint.toLowerCase()) {
    throw new UploadError(
      'hash-mismatch',
      'the gateway stored a record whose hash differs from the one encrypted here',
    );
  }
  const action = addRecordAction(toSign.upload);
  const nonce = parseU256(toSign.nonce);
  const digest = actionDigest(domain, action, { signer, nonce, deadline });
  if (digest.toLowerCase() !== toSign.signing_hash.toLowerCase()) {
    throw new UploadError('digest-mismatch', 'the gateway asked to sign another record than the one uploaded');
  }
  return { action, nonce };
}
