import { PrivateKey } from '../../../core/src/index.ts';
import type { VaultRecord, WalletDatabase } from '../store/db.ts';

/**
 * The signing key at rest. It is generated on first run and stored only encrypted, under an
 * AES-GCM key that WebCrypto created non-extractable and that IndexedDB keeps as an opaque
 * CryptoKey: script in this origin can ask WebCrypto to decrypt with it, but nothing can read
 * its bytes, and the stored record alone (a copied database file, say) reveals nothing.
 */

const VAULT_ID = 'signing-key';

async function encryptKey(key: PrivateKey): Promise<Omit<VaultRecord, 'id'>> {
  const wrappingKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = key.exportBytes() as Uint8Array<ArrayBuffer>;
  try {
    const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: addressBytes(key.address) }, wrappingKey, plaintext));
    return { address: key.address, wrappingKey, iv, ciphertext, createdAt: Date.now() };
  } finally {
    plaintext.fill(0);
  }
}

function addressBytes(address: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(address);
}

async function decryptKey(record: VaultRecord): Promise<PrivateKey> {
  const plaintext = new Uint8Array(
    await crypto.subtle.decrypt({ name: 'AES-GCM', iv: record.iv, additionalData: addressBytes(record.address) }, record.wrappingKey, record.ciphertext),
  );
  try {
    const key = PrivateKey.fromBytes(plaintext);
    if (key.address !== record.address) throw new Error('the stored signing key does not match its recorded address');
    return key;
  } finally {
    plaintext.fill(0);
  }
}

export interface KeyCandidate {
  key: PrivateKey;
  record: VaultRecord;
}

/**
 * A new key, already encrypted, ready to store if this turns out to be the first run. The
 * wallet prepares it while its database opens, so a first start does not wait for both in turn.
 */
export async function prepareSigningKey(): Promise<KeyCandidate> {
  const key = PrivateKey.random();
  return { key, record: { id: VAULT_ID, ...(await encryptKey(key)) } };
}

/**
 * Loads the signing key, creating and storing it on first run (from `candidate` if given).
 * Safe against two tabs starting at once: the first record written wins and the other loads it.
 */
export async function loadOrCreateSigningKey(db: WalletDatabase, candidate?: Promise<KeyCandidate>): Promise<{ key: PrivateKey; created: boolean }> {
  const existing = await db.vault.get(VAULT_ID);
  if (existing) return { key: await decryptKey(existing), created: false };
  const { key: fresh, record } = await (candidate ?? prepareSigningKey());
  try {
    await db.vault.add(record);
    return { key: fresh, created: true };
  } catch (e) {
    if ((e as { name?: string }).name !== 'ConstraintError') throw e;
    const winner = await db.vault.get(VAULT_ID);
    if (!winner) throw e;
    return { key: await decryptKey(winner), created: false };
  }
}
