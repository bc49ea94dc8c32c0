import * as x509 from '@peculiar/x509';
import { webcrypto, createHash, X509Certificate } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * A throw-away PKI for the PVE simulator, shaped like a PVE cluster's: a self-signed cluster CA
 * (as /etc/pve/pve-root-ca.pem) and a node certificate it signs, with SANs 127.0.0.1, ::1 and
 * localhost (as /etc/pve/nodes/<node>/pve-ssl.pem). ECDSA P-256: generated in milliseconds.
 */
export interface TestPki {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 of the leaf certificate in PVE's format: uppercase colon-separated hex. */
  fingerprint: string;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export async function generateTestPki(commonName = 'pve-sim'): Promise<TestPki> {
  const notBefore = new Date(Date.now() - DAY);
  const notAfter = new Date(Date.now() + 3650 * DAY);
  const caKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Proxmox Virtual Environment (pvepower simulator CA), O=PVE Cluster Manager CA',
    notBefore,
    notAfter,
    keys: caKeys as webcrypto.CryptoKeyPair,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: `CN=${commonName}, OU=PVE Cluster Node, O=Proxmox Virtual Environment`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingKey: (caKeys as webcrypto.CryptoKeyPair).privateKey,
    publicKey: leafKeys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
        { type: 'dns', value: 'localhost' },
        { type: 'dns', value: commonName },
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  const certPem = leaf.toString('pem');
  return { caPem: ca.toString('pem'), certPem, keyPem, fingerprint: pemFingerprint(certPem) };
}

/** PVE-format SHA-256 fingerprint of a PEM certificate. */
export function pemFingerprint(pem: string): string {
  const der = new X509Certificate(pem).raw;
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}
