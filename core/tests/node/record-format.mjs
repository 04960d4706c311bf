// An independent reader of the record format, written from
// docs/record-format.md with Node's own AES-256-GCM and SHA-256: opens every
// test vector of that page and prints one JSON line per vector.
import fs from 'node:fs';
import crypto from 'node:crypto';

const doc = fs.readFileSync(process.argv[2], 'utf8');
for (const block of doc.split('```vector\n').slice(1)) {
  const fields = Object.fromEntries(
    block.split('```')[0].trim().split('\n').map((line) => {
      const [name, ...value] = line.split(/\s+/);
      return [name, value.join('')];
    }),
  );
  const record = Buffer.from(fields.record, 'hex');
  const key = Buffer.from(fields.key, 'hex');
  const header = record.subarray(0, 17);
  if (header.subarray(0, 4).toString() !== 'MEDV' || header[4] !== 1 || header[5] !== 1) {
    throw new Error(`${fields.name}: not a version 1 record`);
  }
  const size = header.readUInt32BE(6);
  const prefix = header.subarray(10, 17);
  const plaintext = [];
  for (let offset = 17, index = 0; ; index++) {
    const remaining = record.length - offset;
    const last = remaining <= size + 16;
    const length = last ? remaining : size + 16;
    const nonce = Buffer.alloc(12);
    prefix.copy(nonce, 0);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = last ? 1 : 0;
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(header);
    decipher.setAuthTag(record.subarray(offset + length - 16, offset + length));
    plaintext.push(decipher.update(record.subarray(offset, offset + length - 16)));
    decipher.final();
    offset += length;
    if (last) break;
  }
  console.log(JSON.stringify({
    name: fields.name,
    plaintext: Buffer.concat(plaintext).toString('hex') || '-',
    sha256: crypto.createHash('sha256').update(record).digest('hex'),
  }));
}
