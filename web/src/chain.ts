// MedVault as the page sees it: the views it reads through the wallet's node
// and governance's own transactions (a human-readable ABI of only what the
// page calls; the forwarder's is ./protocol's), and the category names.

import { parseAbi } from 'viem';

/** MedVault's views the page reads. */
export const medVaultAbi = parseAbi([
  'struct Staff { address organisation; uint8 role; uint40 licenceExpiry; uint40 since; uint8 openCases; }',
  'struct Grant { uint64 readMask; uint64 writeMask; uint40 expiry; uint40 grantedAt; }',
  'struct Request { address patient; uint64 readMask; uint8 status; address staff; uint64 writeMask; uint32 duration; }',
  'function isPatient(address account) view returns (bool)',
  'function encryptionKey(address account) view returns (bytes)',
  'function guardianPowers(address patient, address guardian) view returns (uint8)',
  'function categoryEpoch(address patient, uint8 category) view returns (uint32)',
  'function hasAccess(address patient, address account, uint8 category) view returns (bool)',
  'function canRead(uint256 recordId, address reader) view returns (bool)',
  'function verifyRecord(uint256 recordId, bytes cid, bytes32 ciphertextHash) view returns (bool)',
  'function grantOf(address patient, address grantee) view returns (Grant)',
  'function request(uint256 requestId) view returns (Request)',
  'function staff(address account) view returns (Staff)',
  'function organisationStatus(address organisation) view returns (uint8)',
  'function owner() view returns (address)',
  'function addOrganisation(address organisation)',
  'function suspendOrganisation(address organisation)',
  'function restoreOrganisation(address organisation)',
]);

/** Staff roles, as the contract numbers them. */
export const ROLES = ['none', 'doctor', 'nurse', 'lab', 'emergency'] as const;

/** Category names (docs/cli.md); the others are shown by number. */
export const CATEGORY_NAMES: Record<number, string> = {
  0: 'emergency',
  1: 'vitals',
  2: 'labs',
  3: 'imaging',
  4: 'prescriptions',
  5: 'notes',
  6: 'allergies',
  7: 'immunisations',
};

/** A category's name, or its number. */
export function categoryName(category: number): string {
  return CATEGORY_NAMES[category] ?? `category ${category}`;
}

/** The categories of a 64-bit mask. */
export function maskCategories(mask: bigint | number | string): number[] {
  const bits = BigInt(mask);
  const out: number[] = [];
  for (let c = 0; c < 64; c++) if ((bits >> BigInt(c)) & 1n) out.push(c);
  return out;
}

/** A mask as category names, e.g. "labs, vitals". */
export function maskNames(mask: bigint | number | string): string {
  const list = maskCategories(mask);
  if (list.length === 64) return 'all';
  return list.length ? list.map(categoryName).join(', ') : 'none';
}

/** The mask of a list of categories. */
export function maskOf(categories: number[]): bigint {
  return categories.reduce((mask, c) => mask | (1n << BigInt(c)), 0n);
}
