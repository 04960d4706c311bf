// Errors a person understands: each failure the page can meet, as a sentence
// that says what happened and what to do, never a stack trace.

/** The gateway refused or failed: its JSON `{error, message}` and the HTTP status. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly revert?: string,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** The indexer refused or failed. */
export class IndexerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'IndexerError';
  }
}

/** A service did not answer at all (down, or the network failed). */
export class UnreachableError extends Error {
  constructor(readonly service: 'gateway' | 'indexer' | 'chain') {
    super(`the ${service} did not answer`);
    this.name = 'UnreachableError';
  }
}

/** The wallet is on another chain than the deployment's. */
export class WrongChainError extends Error {
  constructor(
    readonly actual: number,
    readonly expected: number,
  ) {
    super(`the wallet is on chain ${actual}, MedVault is on chain ${expected}`);
    this.name = 'WrongChainError';
  }
}

/** Something the page itself refuses (a bad input, a check that failed). */
export class UserError extends Error {
  override name = 'UserError';
}

/** Whether `error` is a wallet's refusal (EIP-1193 code 4001, or viem's wrapper of it). */
export function isRejection(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    const e = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (e.code === 4001 || e.name === 'UserRejectedRequestError') return true;
    current = e.cause;
  }
  return false;
}

/** Whether `error` is the wallet's node failing (EIP-1474 internal error, or a failed transport). */
function isNodeFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    const e = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (e.code === -32603 || e.name === 'InternalRpcError' || e.name === 'HttpRequestError') return true;
    current = e.cause;
  }
  return false;
}

/** The sentence for `error`. */
export function describeError(error: unknown): string {
  if (isRejection(error)) {
    return 'You declined the request in your wallet, so nothing was sent.';
  }
  if (error instanceof WrongChainError) {
    return `Your wallet is on chain ${error.actual} but MedVault runs on chain ${error.expected}. Switch networks in your wallet and try again.`;
  }
  if (error instanceof UnreachableError) {
    switch (error.service) {
      case 'gateway':
        return 'The MedVault gateway does not answer. It may be down or restarting; try again in a moment.';
      case 'indexer':
        return 'The MedVault indexer does not answer, so lists cannot be shown. Try again in a moment.';
      case 'chain':
        return 'The blockchain node does not answer. Try again in a moment.';
    }
  }
  if (error instanceof GatewayError) {
    switch (error.code) {
      case 'chain_unavailable':
        return 'The gateway cannot reach the blockchain right now, so nothing was changed. Try again in a moment.';
      case 'ipfs_unavailable':
        return 'The gateway cannot reach the file store (IPFS) right now, so nothing was stored. Try again in a moment.';
      case 'unauthenticated':
        return 'Your session has ended. Sign in again.';
      case 'rate_limited':
        return 'Too many requests in a short time. Wait a few seconds and try again.';
      case 'timeout':
        return 'The gateway took too long to answer. The action may still complete; refresh before trying again.';
      case 'forbidden':
        return `Access refused: ${error.message}. If a grant gave you access, it may have expired or been revoked.`;
      case 'not_found':
        return `Not found: ${error.message}.`;
      case 'reverted':
      case 'reverted_on_chain':
        return `The contract refused: ${error.message}`;
      default:
        return `The gateway refused: ${error.message}`;
    }
  }
  if (error instanceof IndexerError) {
    return error.status === 503 ? 'The indexer has not caught up with the chain yet. Try again in a moment.' : `The indexer refused: ${error.message}`;
  }
  if (error instanceof UserError) return error.message;
  if (isNodeFailure(error)) {
    return 'Your wallet cannot reach the blockchain node right now, so nothing was read or sent. Try again in a moment.';
  }
  if (error instanceof Error) {
    // viem's errors carry a short message first.
    const short = (error as { shortMessage?: string }).shortMessage;
    if (/fetch|network|Failed to fetch|HTTP request failed/i.test(short ?? error.message)) {
      return 'A service did not answer (the chain, the gateway or the indexer). Check that MedVault is running and try again.';
    }
    return short ?? error.message;
  }
  return String(error);
}
