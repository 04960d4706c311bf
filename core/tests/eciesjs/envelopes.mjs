// Opens and seals envelopes with eciesjs for core's compatibility tests
// (core/tests/it/eciesjs.rs). Reads one JSON request on stdin and writes one
// JSON answer on stdout; bytes travel as hex.
//
//   request: { open:    [{ secret, sealed }],          envelopes to open
//              seal:    [{ recipient, plaintext }],    plaintexts to seal
//              rebuild: { recipient_public, ephemeral_secret, nonce, plaintext } | null }
//   answer:  { version, config,
//              opened:  [{ plaintext } | { error }],
//              sealed:  [hex],
//              rebuilt: hex | null }
//
// `rebuild` seals with a fixed ephemeral key and nonce from eciesjs's own
// key derivation and cipher, which its `encrypt` does not let a caller fix.
//
// eciesjs comes from <repo>/.tools/npm, where scripts/bootstrap.sh installs
// the version pinned in tools/npm/package.json.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const manifest = join(root, ".tools/npm/node_modules/eciesjs/package.json");
if (!existsSync(manifest)) {
  process.stderr.write(`eciesjs is not installed at ${dirname(manifest)}; run \`make bootstrap\`\n`);
  process.exit(3);
}
// Resolve from eciesjs's own folder, so its dependencies are the ones it uses.
const require = createRequire(manifest);
const ecies = require("eciesjs");
const { aes256gcm } = require("@ecies/ciphers/aes");

const TAG_LEN = 16;
const fromHex = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");

function rebuild({ recipient_public, ephemeral_secret, nonce, plaintext }) {
  const ephemeral = new ecies.PrivateKey(fromHex(ephemeral_secret));
  const key = ephemeral.encapsulate(new ecies.PublicKey(fromHex(recipient_public)), ecies.ECIES_CONFIG.isHkdfKeyCompressed);
  // @noble/ciphers' layout is ciphertext || tag; eciesjs moves the tag first.
  const sealed = aes256gcm(key, fromHex(nonce)).encrypt(fromHex(plaintext));
  const cut = sealed.length - TAG_LEN;
  return toHex(
    Buffer.concat([
      ephemeral.publicKey.toBytes(ecies.ECIES_CONFIG.isEphemeralKeyCompressed),
      fromHex(nonce),
      sealed.subarray(cut),
      sealed.subarray(0, cut),
    ]),
  );
}

function open({ secret, sealed }) {
  try {
    return { plaintext: toHex(ecies.decrypt(fromHex(secret), fromHex(sealed))) };
  } catch (err) {
    return { error: String(err && err.message ? err.message : err) };
  }
}

const request = JSON.parse(readFileSync(0, "utf8"));
const config = ecies.ECIES_CONFIG;
const answer = {
  version: JSON.parse(readFileSync(manifest, "utf8")).version,
  config: {
    ellipticCurve: config.ellipticCurve,
    isEphemeralKeyCompressed: config.isEphemeralKeyCompressed,
    isHkdfKeyCompressed: config.isHkdfKeyCompressed,
    symmetricAlgorithm: config.symmetricAlgorithm,
    symmetricNonceLength: config.symmetricNonceLength,
  },
  opened: (request.open ?? []).map(open),
  sealed: (request.seal ?? []).map(({ recipient, plaintext }) =>
    toHex(ecies.encrypt(fromHex(recipient), fromHex(plaintext))),
  ),
  rebuilt: request.rebuild ? rebuild(request.rebuild) : null,
};
process.stdout.write(JSON.stringify(answer));
