// A test wallet injected into the page as its EIP-1193 provider: the page's
// requests cross to Node through page.exposeBinding, where viem's local
// account signs with a demo key from stack.json; reads (and governance's own
// transactions) go to Anvil. It can pretend to be on another chain or to
// have its user decline (every signature, or the next few), for the error
// and resume tests.
import type { Page } from '@playwright/test';
import {
  type Hex,
  type TypedDataDefinition,
  createWalletClient,
  defineChain,
  hexToString,
  http,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { Stack } from './stack';

/** What the wallet does besides signing. */
export interface WalletOptions {
  /** The chain it claims to be on (default: the stack's). */
  chainId?: number;
  /** Decline every signature. */
  decline?: boolean;
  /** Fail every read as a node that does not answer would. */
  nodeDown?: boolean;
}

/** A handle on the injected wallet, to change its behaviour mid-test. */
export interface TestWallet {
  address: Hex;
  options: WalletOptions;
  /** The methods the page asked for, in order. */
  calls: string[];
  /**
   * What the next signatures do, consumed one per signature (sign-in,
   * typed data or a transaction): `sign` or `decline`; once empty, the
   * options rule.
   */
  plan: ('sign' | 'decline')[];
  /** Declines the next `n` signatures, after signing `after` first. */
  declineNext(n: number, after?: number): void;
}

/** Turns numeric strings of uint and int fields back into bigints, as viem's local signer wants them. */
function reviveTyped(json: string): TypedDataDefinition {
  const typed = JSON.parse(json) as { types: Record<string, { name: string; type: string }[]>; primaryType: string; domain: Record<string, unknown>; message: Record<string, unknown> };
  const revive = (type: string, value: unknown): unknown => {
    if (type.endsWith('[]')) return (value as unknown[]).map((v) => revive(type.slice(0, -2), v));
    if (/^u?int\d*$/.test(type)) return BigInt(value as string);
    const fields = typed.types[type];
    if (fields) {
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.name] = revive(f.type, (value as Record<string, unknown>)[f.name]);
      return out;
    }
    return value;
  };
  const { EIP712Domain: _domain, ...types } = typed.types;
  const domain = { ...typed.domain };
  if (domain.chainId !== undefined) domain.chainId = Number(domain.chainId);
  return { domain, types, primaryType: typed.primaryType, message: revive(typed.primaryType, typed.message) as Record<string, unknown> } as unknown as TypedDataDefinition;
}

/** Injects a wallet holding `privateKey` into `page` (before any of its scripts run). */
export async function injectWallet(page: Page, stack: Stack, privateKey: Hex, options: WalletOptions = {}): Promise<TestWallet> {
  const account = privateKeyToAccount(privateKey);
  const chain = defineChain({
    id: stack.chain_id,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [stack.rpc_url] } },
  });
  const signer = createWalletClient({ account, chain, transport: http(stack.rpc_url) });
  const wallet: TestWallet = {
    address: account.address,
    options,
    calls: [],
    plan: [],
    declineNext(n: number, after = 0) {
      this.plan.push(...Array<'sign'>(after).fill('sign'), ...Array<'decline'>(n).fill('decline'));
    },
  };
  const declined = () => ({ error: { code: 4001, message: 'User rejected the request.' } });
  /** Whether this signature is declined: the plan's next step, else the options. */
  const declines = () => {
    const step = wallet.plan.shift();
    return step === undefined ? Boolean(wallet.options.decline) : step === 'decline';
  };

  await page.exposeBinding('__medvaultWallet', async (_source, method: string, params: unknown[]) => {
    wallet.calls.push(method);
    try {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return { result: [account.address] };
        case 'eth_chainId':
          return { result: `0x${(wallet.options.chainId ?? stack.chain_id).toString(16)}` };
        case 'wallet_switchEthereumChain': {
          const wanted = Number.parseInt((params[0] as { chainId: string }).chainId, 16);
          if (wallet.options.decline) return declined();
          wallet.options.chainId = wanted;
          return { result: null };
        }
        case 'personal_sign': {
          if (declines()) return declined();
          const message = params[0] as Hex;
          return { result: await account.signMessage({ message: { raw: message } }) };
        }
        case 'eth_signTypedData_v4': {
          if (declines()) return declined();
          return { result: await account.signTypedData(reviveTyped(params[1] as string)) };
        }
        case 'eth_sendTransaction': {
          if (declines()) return declined();
          const tx = params[0] as { to: Hex; data?: Hex; value?: Hex };
          const hash = await signer.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : undefined });
          return { result: hash };
        }
        default: {
          if (wallet.options.nodeDown) return { error: { code: -32603, message: 'fetch failed' } };
          const response = await fetch(stack.rpc_url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: params ?? [] }),
          });
          const body = (await response.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
          return body.error ? { error: body.error } : { result: body.result };
        }
      }
    } catch (error) {
      return { error: { code: -32603, message: (error as Error).message } };
    }
  });
  await page.addInitScript(() => {
    type Answer = { result?: unknown; error?: { code: number; message: string; data?: unknown } };
    const call = (window as unknown as { __medvaultWallet: (m: string, p: unknown) => Promise<Answer> }).__medvaultWallet;
    const listeners: Record<string, ((...args: unknown[]) => void)[]> = {};
    (window as unknown as { ethereum: unknown }).ethereum = {
      isMedVaultTestWallet: true,
      async request({ method, params }: { method: string; params?: unknown[] }) {
        const answer = await call(method, params ?? []);
        if (answer.error) {
          const error = new Error(answer.error.message) as Error & { code: number; data?: unknown };
          error.code = answer.error.code;
          error.data = answer.error.data;
          throw error;
        }
        return answer.result;
      },
      on(event: string, listener: (...args: unknown[]) => void) {
        (listeners[event] ??= []).push(listener);
      },
      removeListener(event: string, listener: (...args: unknown[]) => void) {
        listeners[event] = (listeners[event] ?? []).filter((l) => l !== listener);
      },
    };
  });
  return wallet;
}

export { hexToString };
