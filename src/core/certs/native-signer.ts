/**
 * node-forge builds certificates and CSRs (ASN.1, extensions), but its RSA signing is pure JavaScript and
 * slow. This signer lets forge delegate the private-key operation to Node's native crypto: forge hands over
 * the SHA-256 digest of what it signs, and an RSASSA-PKCS1-v1_5 signature is the RSA private operation on the
 * DER DigestInfo of that digest (which `privateEncrypt` with PKCS#1 padding performs).
 */
import { constants, createPrivateKey, type KeyObject, privateEncrypt } from 'node:crypto';
import type forge from 'node-forge';

/** DER prefix of a DigestInfo for SHA-256 (RFC 8017, section 9.2, note 1). */
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export interface ForgeSigner {
  sign(md: forge.md.MessageDigest): string;
}

/** A signer for `cert.sign(signer, forge.md.sha256.create())` / `csr.sign(...)`, backed by `key`. */
export function nativeRsaSigner(key: KeyObject | string): ForgeSigner {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  return {
    sign(md) {
      if (md.algorithm !== 'sha256')
        throw new Error(`native signer supports sha256 only, not ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const digestInfo = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
      return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString(
        'binary',
      );
    },
  };
}
