// The wallet: any EIP-1193 provider (window.ethereum) through viem. Reads go
// through the wallet's own node connection; writes are signatures only (the
// gateway relays them), so the wallet needs no ETH.

import {
  type Address,
  type EIP1193Provider,
  type PublicClient,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  getAddress,
} from 'viem';
import type { Config } from './config';
import { UserError, WrongChainError } from './errors';

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

/** A connected wallet on the deployment's chain. */
export interface Wallet {
  account: Address;
  walletClient: WalletClient;
  publicClient: PublicClient;
  provider: EIP1193Provider;
}

/** The wallet's provider, or a sentence saying there is none. */
export function provider(): EIP1193Provider {
  if (!window.ethereum) {
    throw new UserError('No Ethereum wallet was found in this browser. Install one (or enable it) and reload the page.');
  }
  return window.ethereum;
}

/** The chain the wallet is on. */
export async function walletChainId(ethereum: EIP1193Provider): Promise<number> {
  const hex = (await ethereum.request({ method: 'eth_chainId' })) as string;
  return Number.parseInt(hex, 16);
}

/** Asks the wallet to move to the deployment's chain. */
export async function switchChain(ethereum: EIP1193Provider, chainId: number): Promise<void> {
  await ethereum.request({
    method: 'wallet_switchEthereumChain',
    params: [{ chainId: `0x${chainId.toString(16)}` }],
  });
}

/** Asks for the wallet's account and checks its chain (WrongChainError otherwise). */
export async function connect(config: Config): Promise<Wallet> {
  const ethereum = provider();
  const accounts = (await ethereum.request({ method: 'eth_requestAccounts' })) as string[];
  const first = accounts[0];
  if (!first) throw new UserError('The wallet shared no account.');
  const chainId = await walletChainId(ethereum);
  if (chainId !== config.chainId) throw new WrongChainError(chainId, config.chainId);
  const chain = defineChain({
    id: config.chainId,
    name: `MedVault chain ${config.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const account = getAddress(first);
  const transport = custom(ethereum);
  return {
    account,
    provider: ethereum,
    walletClient: createWalletClient({ account, chain, transport }),
    publicClient: createPublicClient({ chain, transport }) as PublicClient,
  };
}
