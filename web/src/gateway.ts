// The gateway's client: sign-in with Ethereum (EIP-4361), relayed actions,
// record upload and download. The session token lives in this object only
// (memory): never in storage, so a closed tab is signed out.

import { type Address, type Hex, getAddress, keccak256 } from 'viem';
import type { Config } from './config';
import { GatewayError, UnreachableError } from './errors';
import type { Wallet } from './wallet';
import { type ToSign, type UploadParams, uploadQuery } from './protocol';

/** How long a sign-in message is valid. */
const SIGN_IN_VALIDITY_SECS = 600;

/** A relay is sent at most twice: once, and once more if no answer came. */
const RELAY_ATTEMPTS = 2;

/** Seconds a retried relay waits for the first attempt still in flight at the gateway. */
const RELAY_IN_FLIGHT_WAITS = 60;

/** A relayed action's outcome. */
export interface Relayed {
  function: string;
  signer: Address;
  transactionHash: Hex;
  blockNumber: number;
}

/** What `GET /v1/records/{id}/keys` gives a reader. */
export interface RecordKeys {
  record_id: string;
  patient: Address;
  category: number;
  cid: string;
  sha256: Hex;
  wrapped_key: Hex;
  epoch: number;
  record_envelopes: Hex[];
  category_envelopes: { epoch: number; sealed_key?: Hex; sealedKey?: Hex }[];
  rotations: { epoch: number; sealed_previous_key?: Hex; sealedPreviousKey?: Hex }[];
  basis: unknown;
}

/** What opening an upload session answers: where to send the parts, or the upload its idempotency key stored already. */
export type UploadSession = { id: string; part_limit: number } | { done: ToSign };

/** What a part answers: the bytes the gateway holds, or (after the last part) what to sign. */
export type PartAnswer = { received: number } | ToSign;

/** A part that does not start where the gateway's upload stands; `expected` is where it does. */
export class WrongOffsetError extends GatewayError {
  constructor(readonly expected: number) {
    super(409, 'wrong_offset', `the upload goes on at byte ${expected}`);
    this.name = 'WrongOffsetError';
  }
}

/** The EIP-4361 message, in the exact layout the gateway parses. */
export function signInMessage(opts: {
  domain: string;
  scheme: string;
  address: Address;
  chainId: number;
  nonce: string;
  issuedAt: number;
  expiresAt: number;
}): string {
  const time = (s: number) => new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [
    `${opts.domain} wants you to sign in with your Ethereum account:`,
    getAddress(opts.address),
    '',
    'Sign in to MedVault.',
    '',
    `URI: ${opts.scheme}://${opts.domain}/v1/auth/verify`,
    'Version: 1',
    `Chain ID: ${opts.chainId}`,
    `Nonce: ${opts.nonce}`,
    `Issued At: ${time(opts.issuedAt)}`,
    `Expiration Time: ${time(opts.expiresAt)}`,
  ].join('\n');
}

/** A client of the gateway on the page's own origin. */
export class Gateway {
  private token: string | null = null;
  /** When the session ends, unix seconds. */
  expiresAt = 0;

  constructor(private readonly config: Config) {}

  /** Whether a session token is held. */
  get signedIn(): boolean {
    return this.token !== null && this.expiresAt > Date.now() / 1000;
  }

  /** Forgets the session. */
  signOut(): void {
    this.token = null;
    this.expiresAt = 0;
  }

  /** Signs in with the wallet: a nonce, a personal_sign of the message, a token. */
  async signIn(wallet: Wallet): Promise<void> {
    const { nonce } = await this.json<{ nonce: string }>('POST', '/v1/auth/nonce', undefined, false);
    const now = Math.floor(Date.now() / 1000);
    const message = signInMessage({
      domain: this.config.domain,
      scheme: location.protocol.replace(':', ''),
      address: wallet.account,
      chainId: this.config.chainId,
      nonce,
      issuedAt: now,
      expiresAt: now + SIGN_IN_VALIDITY_SECS,
    });
    const signature = await wallet.walletClient.signMessage({ account: wallet.account, message });
    const session = await this.json<{ token: string; expiresAt: number }>(
      'POST',
      '/v1/auth/verify',
      { message, signature },
      false,
    );
    this.token = session.token;
    this.expiresAt = session.expiresAt;
  }

  /**
   * Relays a signed forwarder call. Its `Idempotency-Key` is the calldata's
   * keccak256, so every retry of one signed action is one transaction: when
   * the request gets no answer (the network, not an HTTP error), it is sent
   * once more with the same key, and the gateway replays the first outcome
   * or waits on the transaction it already sent.
   */
  async relay(calldata: Hex): Promise<Relayed> {
    const init = {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${this.requireToken()}`,
        'Content-Type': 'application/json',
        'Idempotency-Key': keccak256(calldata),
      },
      body: JSON.stringify({ calldata }),
    };
    let response: Response | null = null;
    for (let attempt = 0; attempt < RELAY_ATTEMPTS && response === null; attempt++) {
      response = await fetch('/v1/relay', init).catch(() => null);
    }
    // The lost first request may still be running: the retry then waits for it.
    for (let waited = 0; response?.status === 409 && waited < RELAY_IN_FLIGHT_WAITS; waited++) {
      const body = parseJson(await response.clone().text()) as { error?: string } | null;
      if (body?.error !== 'idempotency_in_flight') break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      response = await fetch('/v1/relay', init).catch(() => null);
    }
    if (response === null) throw new UnreachableError('gateway');
    if (!response.ok) throw errorOf(response.status, parseJson(await response.text()));
    return (await response.json()) as Relayed;
  }

  /**
   * Opens an upload session for a record encrypted here (client mode); its
   * parts then go up one request each ({@link Gateway.uploadPart}). The
   * `idempotencyKey` (one per upload, kept for its retries) makes a retry
   * find the upload the gateway stored already: `{ done }`.
   */
  uploadSession(params: UploadParams, idempotencyKey: string): Promise<UploadSession> {
    return this.xhr<UploadSession>('POST', `/v1/upload-sessions?${uploadQuery(params)}`, null, { 'Idempotency-Key': idempotencyKey });
  }

  /**
   * Sends a part of an upload session's record, starting at byte `offset`,
   * with XMLHttpRequest for its upload progress. A part that is not the last
   * answers how many bytes the gateway holds; the last one what to sign. A
   * part that does not start where the gateway stands is a
   * {@link WrongOffsetError} naming where it does.
   */
  uploadPart(sessionId: string, offset: number, last: boolean, bytes: Uint8Array, onProgress: (sent: number) => void): Promise<PartAnswer> {
    const query = `offset=${offset}${last ? '&last=true' : ''}`;
    return this.xhr<PartAnswer>('PUT', `/v1/upload-sessions/${encodeURIComponent(sessionId)}?${query}`, bytes, {}, onProgress);
  }

  /** A request through XMLHttpRequest (whose upload reports progress), answered in JSON. */
  private xhr<T>(method: string, path: string, body: Uint8Array | null, headers: Record<string, string>, onProgress?: (sent: number) => void): Promise<T> {
    const token = this.requireToken();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      if (body) xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onerror = () => reject(new UnreachableError('gateway'));
      xhr.onload = () => {
        const parsed = parseJson(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
        else if (xhr.status === 409 && (parsed as { error?: string } | null)?.error === 'wrong_offset') reject(new WrongOffsetError(Number((parsed as { expected?: number }).expected)));
        else reject(errorOf(xhr.status, parsed));
      };
      xhr.send(body as XMLHttpRequestBodyInit | null);
    });
  }

  /** Commits an upload with the author's signature. */
  commit(uploadId: string, deadline: number, signature: Hex): Promise<{ record_id: string; tx_hash: Hex; block_number: number }> {
    return this.json('POST', `/v1/uploads/${encodeURIComponent(uploadId)}/commit`, { deadline, signature });
  }

  /** A record's key material for the caller (after the chain's canRead). */
  keys(recordId: string): Promise<RecordKeys> {
    return this.json('GET', `/v1/records/${recordId}/keys`);
  }

  /** Starts a record's download: the response, whose body streams the ciphertext. */
  async download(recordId: string, purpose: string): Promise<Response> {
    const response = await this.send('GET', `/v1/records/${recordId}?purpose=${encodeURIComponent(purpose)}`);
    return response;
  }

  /** The signed-in patient's accounting of disclosures. */
  accessLog(): Promise<{ entries: unknown[]; anchors?: unknown[] }> {
    return this.json('GET', '/v1/access-log');
  }

  private requireToken(): string {
    if (!this.token) throw new GatewayError(401, 'unauthenticated', 'not signed in');
    return this.token;
  }

  private async send(method: string, path: string, body?: unknown, auth = true): Promise<Response> {
    const headers: Record<string, string> = {};
    if (auth) headers.Authorization = `Bearer ${this.requireToken()}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new UnreachableError('gateway');
    }
    if (!response.ok) {
      throw errorOf(response.status, parseJson(await response.text()));
    }
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const response = await this.send(method, path, body, auth);
    return (await response.json()) as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorOf(status: number, body: unknown): GatewayError {
  const b = (body ?? {}) as { error?: string; message?: string; revert?: string };
  if (status === 502 || status === 503 || status === 504) {
    return new GatewayError(status, b.error ?? 'chain_unavailable', b.message ?? 'unavailable', b.revert);
  }
  return new GatewayError(status, b.error ?? 'internal', b.message ?? `HTTP ${status}`, b.revert);
}
