/**
 * The mesh certificate authority (the Citadel role): a root CA generated on first start and persisted (key
 * mode 0600), or loaded from operator-provided files; it signs workload CSRs whose only SAN is the SPIFFE ID
 * of the identity asked for, and the control plane's own server certificate. Certificates are built with
 * node-forge and signed by Node's native crypto.
 */
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import forge from 'node-forge';
import { generateRsaKeySync } from '../../core/certs/csr.ts';
import { nativeRsaSigner } from '../../core/certs/native-signer.ts';
import { AmbitError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { type Identity, parseSpiffeUri, spiffeUri } from '../../core/identity.ts';

export const DEFAULT_CERT_TTL_SECONDS = 24 * 3600;
export const DEFAULT_MAX_CERT_TTL_SECONDS = 7 * 24 * 3600;
/** Issued certificates start slightly in the past, so that a peer whose clock lags accepts them. */
const BACKDATE_MS = 60_000;
const ROOT_VALIDITY_YEARS = 10;

/** A CSR the CA refuses (malformed, wrong SAN, wrong trust domain): the caller's fault. */
export class CsrError extends AmbitError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
    this.name = 'CsrError';
  }
}

export interface IssuedCertificate {
  certPem: string;
  /** The certificates above the leaf, up to the root. */
  chain: string[];
  notAfter: Date;
}

export interface InspectedCsr {
  identity: Identity;
  spiffeId: string;
  csr: forge.pki.CertificateSigningRequest;
}

export interface CaOptions {
  trustDomain: string;
  /** Where the generated root lives (`<state>/ca/root-key.pem`, `.../root-cert.pem`). */
  keyFile: string;
  certFile: string;
  /** Operator-provided root (or intermediate acting as the mesh's anchor); copied to `certFile` for clients. */
  providedCertFile?: string | undefined;
  providedKeyFile?: string | undefined;
  defaultTtlSeconds?: number | undefined;
  maxTtlSeconds?: number | undefined;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // a positive INTEGER
  return bytes.toString('hex');
}

/** A certificate for `publicKey` with a fresh serial, valid from just before `now` until `notAfter`. */
function newCertificate(publicKey: forge.pki.PublicKey, now: Date, notAfter: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = notAfter;
  return cert;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly rootCertPem: string;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  private readonly signer: ReturnType<typeof nativeRsaSigner>;
  private readonly rootCert: forge.pki.Certificate;
  private readonly rootKeyId: string;

  private constructor(options: CaOptions, rootCertPem: string, rootKeyPem: string) {
    this.trustDomain = options.trustDomain;
    this.rootCertPem = rootCertPem;
    this.defaultTtlSeconds = options.defaultTtlSeconds ?? DEFAULT_CERT_TTL_SECONDS;
    this.maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_CERT_TTL_SECONDS;
    this.signer = nativeRsaSigner(rootKeyPem);
    this.rootCert = forge.pki.certificateFromPem(rootCertPem);
    this.rootKeyId = this.rootCert.generateSubjectKeyIdentifier().getBytes();
  }

  /** Loads the operator's CA, else the persisted one, else generates and persists a new root. */
  static loadOrCreate(options: CaOptions): CertificateAuthority {
    if (options.providedCertFile || options.providedKeyFile) {
      if (!options.providedCertFile || !options.providedKeyFile) {
        throw new AmbitError('CA_FILES', '--ca-cert and --ca-key go together: give both or neither');
      }
      const certPem = readFileSync(options.providedCertFile, 'utf8');
      const keyPem = readFileSync(options.providedKeyFile, 'utf8');
      checkKeyMatches(certPem, keyPem, options.providedCertFile);
      writeFileAtomic(options.certFile, certPem, 0o644);
      return new CertificateAuthority(options, certPem, keyPem);
    }
    if (existsSync(options.keyFile) && existsSync(options.certFile)) {
      // Tighten permissions a copy or an editor may have loosened: the key is the mesh's trust.
      chmodSync(options.keyFile, 0o600);
      const certPem = readFileSync(options.certFile, 'utf8');
      const keyPem = readFileSync(options.keyFile, 'utf8');
      checkKeyMatches(certPem, keyPem, options.certFile);
      return new CertificateAuthority(options, certPem, keyPem);
    }
    const { certPem, keyPem } = generateRoot(options.trustDomain);
    mkdirSync(dirname(options.keyFile), { recursive: true, mode: 0o700 });
    writeFileAtomic(options.keyFile, keyPem, 0o600);
    writeFileAtomic(options.certFile, certPem, 0o644);
    return new CertificateAuthority(options, certPem, keyPem);
  }

  /** The roots that workload certificates chain to, as distributed to the data plane. */
  trustBundle(): string[] {
    return [this.rootCertPem];
  }

  /** Parses and checks a CSR: valid signature, RSA key of at least 2048 bits, exactly one SAN, a SPIFFE URI of this trust domain. */
  inspect(csrPem: string): InspectedCsr {
    let csr: forge.pki.CertificateSigningRequest;
    try {
      csr = forge.pki.certificationRequestFromPem(csrPem);
    } catch (error) {
      throw new CsrError(`cannot parse the CSR: ${(error as Error).message}`);
    }
    let signatureValid = false;
    try {
      signatureValid = csr.verify();
    } catch {
      signatureValid = false;
    }
    if (!signatureValid) throw new CsrError('the CSR signature does not verify');
    const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
    if (!publicKey?.n || publicKey.n.bitLength() < 2048)
      throw new CsrError('the CSR key must be RSA of at least 2048 bits');
    const request = csr.getAttribute({ name: 'extensionRequest' }) as {
      extensions?: ForgeExtension[];
    } | null;
    const sans =
      request?.extensions?.find((extension) => extension.name === 'subjectAltName')?.altNames ?? [];
    if (sans.length !== 1)
      throw new CsrError(`the CSR must have exactly one SAN (the SPIFFE ID), it has ${sans.length}`);
    const san = sans[0]!;
    if (san.type !== 6) throw new CsrError('the CSR SAN must be a URI (the SPIFFE ID)');
    const identity = parseSpiffeUri(san.value ?? '');
    if (!identity)
      throw new CsrError(
        `the CSR SAN ${JSON.stringify(san.value)} is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<ns>/sa/<sa>`,
      );
    if (identity.trustDomain !== this.trustDomain) {
      throw new CsrError(
        `the CSR asks for trust domain ${identity.trustDomain}; this CA signs for ${this.trustDomain}`,
      );
    }
    return { identity, spiffeId: spiffeUri(identity), csr };
  }

  /** Signs an inspected CSR. `ttlSeconds` <= 0 means the default; anything above the maximum is capped. */
  issue(request: InspectedCsr, ttlSeconds: number, now = new Date()): IssuedCertificate {
    const ttl = ttlSeconds > 0 ? Math.min(ttlSeconds, this.maxTtlSeconds) : this.defaultTtlSeconds;
    const cert = newCertificate(
      request.csr.publicKey as forge.pki.PublicKey,
      now,
      new Date(now.getTime() + ttl * 1000),
    );
    // The subject stays empty: the identity is the SAN, which RFC 5280 then requires to be critical.
    cert.setSubject([]);
    cert.setIssuer(this.rootCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', critical: true, altNames: [{ type: 6, value: request.spiffeId }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootKeyId },
    ]);
    cert.sign(this.signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return {
      certPem: forge.pki.certificateToPem(cert),
      chain: [this.rootCertPem],
      notAfter: cert.validity.notAfter,
    };
  }

  /** The control plane's own TLS server certificate: its SPIFFE identity plus the DNS names and IPs clients dial. */
  issueServerCertificate(
    spiffeId: string,
    dnsNames: readonly string[],
    ips: readonly string[],
    lifetimeSeconds: number,
  ): { certPem: string; keyPem: string } {
    const key = generateRsaKeySync();
    const now = new Date();
    const cert = newCertificate(
      forge.pki.publicKeyFromPem(key.publicKeyPem),
      now,
      new Date(now.getTime() + lifetimeSeconds * 1000),
    );
    cert.setSubject([
      { name: 'organizationName', value: 'Ambit' },
      { name: 'commonName', value: dnsNames[0] ?? 'ambit-control' },
    ]);
    cert.setIssuer(this.rootCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 6, value: spiffeId },
          ...dnsNames.map((value) => ({ type: 2, value })),
          ...ips.map((ip) => ({ type: 7, ip })),
        ],
      },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootKeyId },
    ]);
    cert.sign(this.signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(cert), keyPem: key.privateKeyPem };
  }
}

interface ForgeExtension {
  name?: string;
  altNames?: { type: number; value?: string }[];
}

function generateRoot(trustDomain: string): { certPem: string; keyPem: string } {
  const key = generateRsaKeySync();
  const now = new Date();
  const notAfter = new Date(now);
  notAfter.setFullYear(now.getFullYear() + ROOT_VALIDITY_YEARS);
  const cert = newCertificate(forge.pki.publicKeyFromPem(key.publicKeyPem), now, notAfter);
  const subject = [
    { name: 'organizationName', value: 'Ambit' },
    { name: 'commonName', value: `Ambit root CA (${trustDomain})` },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(
    nativeRsaSigner(key.privateKeyPem) as unknown as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.privateKeyPem };
}

function checkKeyMatches(certPem: string, keyPem: string, certFile: string): void {
  let matches = false;
  try {
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    matches = fromCert.equals(fromKey);
  } catch (error) {
    throw new AmbitError(
      'CA_FILES',
      `cannot read the CA certificate or key (${certFile}): ${(error as Error).message}`,
    );
  }
  if (!matches) throw new AmbitError('CA_FILES', `the CA key does not match the certificate ${certFile}`);
}
