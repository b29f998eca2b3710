// PEM checks shared by `check` (BackendConfigPolicy Secrets) and the JWKS fetch (files.* paths), so
// both refuse the same things, as kgateway does when it builds the TLS context.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/** Text holding a `-----BEGIN CERTIFICATE-----` block X509Certificate can read (kgateway refuses other forms, such as TRUSTED CERTIFICATE). */
export function isPemCertificate(pem: string): boolean {
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) return false;
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a certificate (chain) and a private key do not make a client certificate, or undefined.
 * The key must belong to the first certificate, as Go's tls.X509KeyPair checks (kgateway):
 * OpenSSL's own context check misses a key of another type (an EC key with an RSA certificate).
 */
export function certificateKeyError(certPem: string, keyPem: string, certName: string, keyName: string): string | undefined {
  if (!isPemCertificate(certPem)) return `${certName} is not a PEM certificate`;
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return `${keyName} is not a readable PEM private key`;
  }
  if (!new X509Certificate(certPem).checkPrivateKey(key)) return `${keyName} does not belong to ${certName}`;
  // The rest of a chain: OpenSSL reads every block (a corrupt later one fails each connect).
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch {
    return `${certName} is not a readable certificate chain`;
  }
  return undefined;
}
