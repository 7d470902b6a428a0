/**
 * Certificate issuance: the CA's signing rate (CSR check + certificate, native RSA signing) against the
 * baseline of node-forge's pure-JavaScript signing of the same certificate; key generation (Node crypto vs
 * forge); and end-to-end issuance over gRPC/TLS through a real control plane with node authorization.
 * Run: node bench/ca-issue.ts [count]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { CertificateAuthority } from '../src/control/ca/authority.ts';
import { ControlPlane } from '../src/control/control-plane.ts';
import { GrpcCertificateSigner } from '../src/core/certs/ca-client.ts';
import { createCsr, generateRsaKey, type KeyPair } from '../src/core/certs/csr.ts';
import { nativeRsaSigner } from '../src/core/certs/native-signer.ts';
import { ControlApiClient } from '../src/core/control-api/client.ts';
import { configureLogging } from '../src/core/log.ts';
import { createNodeCredential } from '../src/core/node-credentials.ts';

const COUNT = Number(process.argv[2] ?? 300);
configureLogging({ level: 'warn' });
const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-ca-'));
const identity = 'spiffe://cluster.local/ns/bench/sa/app';

function rate(count: number, ms: number): number {
  return Math.round((count * 1000) / ms);
}

// Key generation, one at a time: Node's native RSA (what Ambit uses) vs forge's pure-JavaScript RSA (forge
// itself delegates to Node's crypto unless told not to).
const keys: KeyPair[] = [];
let started = performance.now();
for (let i = 0; i < 20; i++) keys.push(await generateRsaKey());
const nativeKeyMs = (performance.now() - started) / keys.length;
// `options` is missing from @types/node-forge.
const forgeOptions = (forge as unknown as { options: { usePureJavaScript: boolean } }).options;
forgeOptions.usePureJavaScript = true;
started = performance.now();
forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
const forgeKeyMs = performance.now() - started;
forgeOptions.usePureJavaScript = false;

// The CA's issuance rate (CSR parsed, signature and SAN checked, certificate built and signed).
const ca = CertificateAuthority.loadOrCreate({
  trustDomain: 'cluster.local',
  keyFile: join(dir, 'ca', 'k.pem'),
  certFile: join(dir, 'ca', 'c.pem'),
});
const csrs = Array.from({ length: COUNT }, (_, i) => createCsr(identity, keys[i % keys.length]!));
started = performance.now();
for (const csr of csrs) ca.issue(ca.inspect(csr), 0);
const issueMs = performance.now() - started;

// The signing primitive alone: the same certificate signed natively and by forge's JavaScript RSA.
const caKey = readFileSync(join(dir, 'ca', 'k.pem'), 'utf8');
const forgeCaKey = forge.pki.privateKeyFromPem(caKey);
const template = forge.pki.certificationRequestFromPem(csrs[0]!);
const certificate = () => {
  const cert = forge.pki.createCertificate();
  cert.publicKey = template.publicKey as forge.pki.PublicKey;
  cert.serialNumber = '01';
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 6, value: identity }] }]);
  return cert;
};
const signer = nativeRsaSigner(caKey) as unknown as forge.pki.rsa.PrivateKey;
const SIGNS = Math.min(COUNT, 100);
started = performance.now();
for (let i = 0; i < SIGNS; i++) certificate().sign(signer, forge.md.sha256.create());
const nativeSignMs = (performance.now() - started) / SIGNS;
started = performance.now();
for (let i = 0; i < 10; i++) certificate().sign(forgeCaKey, forge.md.sha256.create());
const forgeSignMs = (performance.now() - started) / 10;

// End to end: CreateCertificate over gRPC/TLS to a real control plane (token auth, node authorization).
const { token } = createNodeCredential(join(dir, 'state'), 'node-0');
const plane = await ControlPlane.start({
  stateDir: join(dir, 'state'),
  listen: '127.0.0.1:0',
  metricsPort: 0,
});
await new ControlApiClient(plane.paths.socket).reportPod({
  name: 'app-0',
  namespace: 'bench',
  node: 'node-0',
  ips: ['10.244.0.2'],
  serviceAccount: 'app',
});
const client = new GrpcCertificateSigner({
  address: plane.grpcAddress,
  rootCertPem: readFileSync(plane.paths.rootCert, 'utf8'),
  token,
});
await client.createCertificate(csrs[0]!, 0);
const CONCURRENCY = 16;
started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < COUNT) await client.createCertificate(csrs[next++]!, 0);
  }),
);
const grpcMs = performance.now() - started;
client.close();
await plane.stop();

const results = {
  count: COUNT,
  keyGeneration: {
    nativeMs: Number(nativeKeyMs.toFixed(1)),
    forgeMs: Math.round(forgeKeyMs),
    ratio: Number((forgeKeyMs / nativeKeyMs).toFixed(1)),
  },
  signing: {
    nativeMs: Number(nativeSignMs.toFixed(2)),
    forgeMs: Number(forgeSignMs.toFixed(1)),
    ratio: Number((forgeSignMs / nativeSignMs).toFixed(1)),
  },
  caIssuancePerSecond: rate(COUNT, issueMs),
  grpcIssuancePerSecond: rate(COUNT, grpcMs),
};
console.log('Certificate issuance (RSA-2048, SHA-256)');
console.log(
  `  key generation: ${results.keyGeneration.nativeMs} ms native vs ${results.keyGeneration.forgeMs} ms forge (${results.keyGeneration.ratio}x)`,
);
console.log(
  `  signing a certificate: ${results.signing.nativeMs} ms native vs ${results.signing.forgeMs} ms forge JS (${results.signing.ratio}x)`,
);
console.log(`  CA issuance (CSR check + sign), one core: ${results.caIssuancePerSecond}/s`);
console.log(
  `  CreateCertificate over gRPC/TLS with node authorization, ${CONCURRENCY} in flight: ${results.grpcIssuancePerSecond}/s`,
);
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/ca-issue.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
