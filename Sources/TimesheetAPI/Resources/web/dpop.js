// DPoP (RFC 9449) in the browser: one ECDSA P-256 key pair per browser profile, made by WebCrypto as non-extractable
// (this page can sign with the private key but never read it, so a script injected later cannot copy it out), kept in
// IndexedDB so that a reload keeps the key the session's token is bound to. Every API request gets a fresh proof.

const DATABASE = "timesheets-dpop";
const STORE = "keys";
const CURRENT = "current";

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function encodeJSON(value) {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

/** WebCrypto and IndexedDB exist only in secure contexts (https, or http on localhost and 127.0.0.1). */
export function dpopAvailable() {
  return Boolean(window.isSecureContext && window.crypto && crypto.subtle);
}

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function storedKeyPair() {
  try {
    const database = await openDatabase();
    return await new Promise((resolve) => {
      const request = database.transaction(STORE).objectStore(STORE).get(CURRENT);
      request.onsuccess = () => resolve(request.result || null);
      request.onerror = () => resolve(null);
    });
  } catch { return null; }
}

async function storeKeyPair(keyPair) {
  try {
    const database = await openDatabase();
    await new Promise((resolve) => {
      const transaction = database.transaction(STORE, "readwrite");
      transaction.objectStore(STORE).put(keyPair, CURRENT);
      transaction.oncomplete = transaction.onerror = () => resolve();
    });
  } catch { /* private browsing: the key lives as long as the page, and a reload means logging in again */ }
}

let keyPairPromise = null;

/** The browser's DPoP key pair, made on first use. */
export function dpopKeyPair() {
  keyPairPromise ??= (async () => {
    const stored = await storedKeyPair();
    if (stored) return stored;
    const made = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    await storeKeyPair(made);
    return made;
  })();
  return keyPairPromise;
}

/** A new key pair (after logging out: the next login binds its token to a key no earlier token knew). */
export async function forgetDPoPKey() {
  keyPairPromise = null;
  try {
    const database = await openDatabase();
    await new Promise((resolve) => {
      const transaction = database.transaction(STORE, "readwrite");
      transaction.objectStore(STORE).delete(CURRENT);
      transaction.oncomplete = transaction.onerror = transaction.onabort = () => resolve();
    });
  } catch { /* nothing stored */ }
}

/**
 * A DPoP proof for one request: `htm` the method, `htu` the absolute URL without query and fragment, `ath` the hash of
 * the access token when one is sent, and the server's nonce when it asked for one.
 */
export async function dpopProof(method, url, accessToken, nonce) {
  const keyPair = await dpopKeyPair();
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
  const target = new URL(url, window.location.origin);
  target.search = "";
  target.hash = "";
  const claims = { jti: crypto.randomUUID(), htm: method, htu: target.href, iat: Math.floor(Date.now() / 1000) };
  if (accessToken) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
    claims.ath = base64url(new Uint8Array(digest));
  }
  if (nonce) claims.nonce = nonce;
  const input = `${encodeJSON({ typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } })}.${encodeJSON(claims)}`;
  // WebCrypto's ECDSA signature is r || s, exactly what a JWS needs.
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url(new Uint8Array(signature))}`;
}
