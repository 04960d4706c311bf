// The deployment the page talks to, read from the gateway's /config.json
// (same origin): the chain, the contracts, the indexer. Nothing secret.

import type { Address } from 'viem';
import { GatewayError, UnreachableError } from './errors';

/** What `/config.json` holds. */
export interface Config {
  chainId: number;
  contract: Address;
  forwarder: Address;
  deploymentBlock: number;
  /** The domain the gateway expects in sign-in messages. */
  domain: string;
  /** The indexer's base URL, without a trailing slash. */
  indexerUrl: string;
}

/** Loads the configuration from the page's own origin. */
export async function loadConfig(): Promise<Config> {
  let response: Response;
  try {
    response = await fetch('/config.json', { cache: 'no-store' });
  } catch {
    throw new UnreachableError('gateway');
  }
  if (!response.ok) {
    throw new GatewayError(response.status, 'config', 'the gateway has no configuration for this page');
  }
  const config = (await response.json()) as Partial<Config> & { indexerUrl?: string | null };
  if (!config.indexerUrl) {
    throw new GatewayError(500, 'config', 'the gateway was not told where the indexer is (--indexer-url)');
  }
  return config as Config;
}
