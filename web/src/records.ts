// A record's journey through the page: encrypted here segment by segment and
// uploaded in parts as it is encrypted (the gateway never sees plaintext),
// signed and committed; opened again by download and decryption here;
// verified against the chain.

import { type Address, type Hex, bytesToHex, getAddress, isAddressEqual } from 'viem';
import type { App } from './app';
import { medVaultAbi } from './chain';
import { decryptRecord, encryptRecord, fingerprintOf, generateKey, recordLength, wrapDataKey } from './crypto';
import { GatewayError, UnreachableError, UserError } from './errors';
import { type Gateway, type PartAnswer, WrongOffsetError } from './gateway';
import { Actor } from './actions';
import { actionTypedData, checkToSign, cidBytes, forwarderDomain } from './protocol';
import { PART_SIZE, type Part, cutParts } from './protocol/parts';

/** Bytes of an opened record kept in memory before they are folded into a Blob (which a browser may keep on disk). */
const FOLD_BYTES = 8 * 1024 * 1024;

/** Reads a stream into a Blob, folding chunks as it goes. */
async function toBlob(stream: ReadableStream<Uint8Array>, type = 'application/octet-stream'): Promise<Blob> {
  const parts: Blob[] = [];
  let chunks: Uint8Array[] = [];
  let held = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    held += value.length;
    if (held >= FOLD_BYTES) {
      parts.push(new Blob(chunks as BlobPart[]));
      chunks = [];
      held = 0;
    }
  }
  parts.push(new Blob(chunks as BlobPart[]));
  return new Blob(parts, { type });
}

/** Progress of an upload: which step, and how far through it (`uploading`: record bytes sent, encrypted as they go). */
export type UploadProgress = (step: 'uploading' | 'signing' | 'committing', done: number, total: number) => void;

/**
 * Encrypts `file` as a record of `patient`'s `category` written by the
 * signed-in patient (wrapped under the category key, made if needed),
 * uploads it as it is encrypted, checks what the gateway asks to sign and
 * commits it.
 *
 * The record goes up through an upload session, one part
 * ({@link PART_SIZE}, or the gateway's part limit if lower) per request:
 * each part is sent as soon as it is full, and the next one is encrypted
 * only once it has gone, so at most one part is in memory and the
 * progress bar counts bytes sent.
 */
export async function uploadRecord(app: App, patient: Address, category: number, file: Blob, progress: UploadProgress): Promise<{ recordId: string; cid: string; sha256: Hex }> {
  const { key } = await app.keys.currentKey(patient, category);
  const dataKey = generateKey();
  const wrappedKey = bytesToHex(await wrapDataKey(key, dataKey));
  const deadline = Actor.deadline();
  const total = recordLength(file.size);
  progress('uploading', 0, total);
  // One key for this upload and its retries: a retry finds what was stored.
  const session = await app.gateway.uploadSession({ patient, category, epoch: key.id.epoch, wrappedKey, deadline: Number(deadline) }, crypto.randomUUID());
  if ('done' in session) throw new UserError('The gateway answered a new upload with an old one; nothing was signed.');
  const encrypted = encryptRecord(file.stream(), dataKey);
  // Awaited below once the stream has ended; an upload that fails first cancels it.
  encrypted.done.catch(() => undefined);
  let answer: PartAnswer | undefined;
  try {
    for await (const part of cutParts(encrypted.stream, Math.min(PART_SIZE, session.part_limit))) {
      answer = await sendPart(app.gateway, session.id, part, (sent) => progress('uploading', part.offset + sent, total));
      if ('upload' in answer && !part.last) throw new UserError('The gateway ended the upload before its last part; nothing was signed.');
    }
  } finally {
    dataKey.fill(0);
  }
  const sealed = await encrypted.done;
  if (!answer || !('upload' in answer)) throw new UserError('The gateway did not store the record; nothing was signed.');
  const toSign = answer;
  const upload = toSign.upload;
  // Sign only what was computed here, and check that it is what the gateway will submit.
  const domain = forwarderDomain(app.config.chainId, app.config.forwarder);
  let checked;
  try {
    checked = checkToSign(toSign, domain, app.account, deadline, sealed.fingerprint);
  } catch (error) {
    throw new UserError(`${(error as Error).message}; nothing was signed.`);
  }
  const { action, nonce } = checked;
  if (!same(action.patient, patient) || action.category !== category || action.epoch !== key.id.epoch || action.wrappedKey.toLowerCase() !== wrappedKey.toLowerCase() || action.envelopes.length !== 0 || action.amends !== 0n) {
    throw new UserError('The gateway asked to sign another record header than the one sent; nothing was signed.');
  }
  const auth = { signer: app.account, nonce, deadline };
  progress('signing', 0, 1);
  const typed = actionTypedData(domain, action, auth);
  const signature = await app.wallet.walletClient.signTypedData({ account: app.account, ...typed } as Parameters<App['wallet']['walletClient']['signTypedData']>[0]);
  progress('committing', 0, 1);
  const committed = await app.gateway.commit(upload.id, Number(deadline), signature);
  app.landed(committed.block_number);
  return { recordId: BigInt(committed.record_id).toString(), cid: upload.cid, sha256: sealed.fingerprint };
}

/**
 * Sends `part`; after a network error, once more from where the gateway
 * stands (its 409 names the byte it holds up to, inside this part, when
 * the first try got partly or wholly through).
 */
async function sendPart(gateway: Gateway, sessionId: string, part: Part, onSent: (sent: number) => void): Promise<PartAnswer> {
  try {
    return await gateway.uploadPart(sessionId, part.offset, part.last, part.bytes, onSent);
  } catch (error) {
    if (!(error instanceof UnreachableError)) throw error;
  }
  try {
    return await gateway.uploadPart(sessionId, part.offset, part.last, part.bytes, onSent);
  } catch (error) {
    const end = part.offset + part.bytes.length;
    if (!(error instanceof WrongOffsetError) || error.expected < part.offset || error.expected > end) throw error;
    const from = error.expected - part.offset;
    return gateway.uploadPart(sessionId, error.expected, part.last, part.bytes.subarray(from), (sent) => onSent(from + sent));
  }
}

/** An opened record: its plaintext as a Blob and what kind of file it looks like. */
export interface Opened {
  blob: Blob;
  kind: 'image' | 'pdf' | 'text' | 'binary';
  mime: string;
}

function sniff(head: Uint8Array): { kind: Opened['kind']; mime: string } {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return { kind: 'image', mime: 'image/png' };
  if (starts(0xff, 0xd8, 0xff)) return { kind: 'image', mime: 'image/jpeg' };
  if (starts(0x25, 0x50, 0x44, 0x46)) return { kind: 'pdf', mime: 'application/pdf' };
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head);
    if (!head.includes(0)) return { kind: 'text', mime: 'text/plain' };
  } catch {
    /* not text */
  }
  return { kind: 'binary', mime: 'application/octet-stream' };
}

/**
 * Downloads record `recordId` and decrypts it here, checking its hash
 * against the chain's; all or nothing (a record that fails a check gives no
 * partial file).
 */
export async function openRecord(app: App, recordId: string, purpose: string, onProgress?: (done: number, total: number) => void): Promise<Opened> {
  let keys;
  try {
    keys = await app.gateway.keys(recordId);
  } catch (error) {
    if (error instanceof GatewayError && error.status === 403) {
      throw new UserError(`You no longer have access to record ${recordId}: the grant that let you read it has expired or was revoked.`);
    }
    throw error;
  }
  const dataKey = await app.keys.recordKey(keys);
  const response = await app.gateway.download(recordId, purpose);
  if (!response.body) throw new UserError('The gateway sent no record.');
  const total = Number(response.headers.get('content-length') ?? 0);
  const plaintext = decryptRecord(response.body, dataKey, {
    expectedFingerprint: keys.sha256,
    onProgress: (p) => onProgress?.(p.recordBytes, total),
  });
  let blob: Blob;
  try {
    blob = await toBlob(plaintext);
  } catch (error) {
    throw new UserError(`Record ${recordId} did not decrypt: ${(error as Error).message}. Nothing was kept.`);
  } finally {
    dataKey.fill(0);
  }
  const head = new Uint8Array(await blob.slice(0, 512).arrayBuffer());
  const { kind, mime } = sniff(head);
  return { blob: new Blob([blob], { type: mime }), kind, mime };
}

/**
 * Downloads the record's ciphertext, hashes it here and asks the chain
 * whether its CID and that hash are the record's.
 */
export async function verifyRecord(app: App, recordId: string, cid: string): Promise<{ ok: boolean; sha256: Hex }> {
  const response = await app.gateway.download(recordId, 'verify');
  if (!response.body) throw new UserError('The gateway sent no record.');
  const sha256 = await fingerprintOf(response.body);
  const ok = await app.wallet.publicClient.readContract({
    address: app.config.contract,
    abi: medVaultAbi,
    functionName: 'verifyRecord',
    args: [BigInt(recordId), cidBytes(cid), sha256],
  });
  return { ok, sha256 };
}

/** Whether two addresses are the same account. */
export function same(a: string, b: string): boolean {
  try {
    return isAddressEqual(getAddress(a), getAddress(b));
  } catch {
    return false;
  }
}

