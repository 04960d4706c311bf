// An independent derivation of the encryption key, written from docs/keys.md
// with Node's HKDF and secp256k1: argv is the wallet's signature (hex), the
// chain id, the MedVault contract and the account; prints the compressed
// public key (hex).
import crypto from 'node:crypto';

const [signatureHex, chainId, contract, account] = process.argv.slice(2);
const hex = (value) => Buffer.from(value.replace(/^0x/, ''), 'hex');
const order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const signature = hex(signatureHex);
let s = BigInt(`0x${signature.subarray(32, 64).toString('hex')}`);
if (s > order / 2n) s = order - s;
const ikm = Buffer.concat([signature.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')]);
const chain = Buffer.alloc(8);
chain.writeBigUInt64BE(BigInt(chainId));
for (let counter = 0; counter < 256; counter++) {
  const info = Buffer.concat([chain, hex(contract), hex(account), Buffer.from([counter])]);
  const secret = Buffer.from(crypto.hkdfSync('sha256', ikm, 'MedVault encryption key v1', info, 32));
  const scalar = BigInt(`0x${secret.toString('hex')}`);
  if (scalar === 0n || scalar >= order) continue;
  const ecdh = crypto.createECDH('secp256k1');
  ecdh.setPrivateKey(secret);
  console.log(ecdh.getPublicKey('hex', 'compressed'));
  break;
}
