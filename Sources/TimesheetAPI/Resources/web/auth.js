// OAuth 2.0 Authorization Code + PKCE (S256), written against the standards so it works with Auth0's universal login
// and with the dev identity provider alike. Tokens live in memory and, to survive a reload, in sessionStorage —
// never in localStorage.

import { dpopAvailable, dpopProof, forgetDPoPKey } from "/app/dpop.js";

const SESSION_KEY = "timesheets.session";
const PENDING_KEY = "timesheets.pkce";

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(length = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(length)));
}

async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function decodeJWT(token) {
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(decodeURIComponent(escape(json)));
}

export class Auth {
  constructor(config) {
    this.config = config;
    this.session = null;
    const stored = sessionStorage.getItem(SESSION_KEY);
    if (stored) {
      try {
        const session = JSON.parse(stored);
        if (session.expiresAt > Date.now() + 5000) this.session = session;
      } catch { sessionStorage.removeItem(SESSION_KEY); }
    }
  }

  get redirectURI() { return window.location.origin + "/"; }

  get token() {
    if (this.session && this.session.expiresAt > Date.now() + 5000) return this.session.accessToken;
    return null;
  }

  get claims() { return this.token ? decodeJWT(this.token) : null; }

  get permissions() {
    const claims = this.claims;
    if (!claims) return new Set();
    const scopes = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
    return new Set([...scopes, ...(Array.isArray(claims.permissions) ? claims.permissions : [])]);
  }

  async login() {
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnTo: window.location.hash }));
    const params = new URLSearchParams({
      response_type: "code",
      client_id: this.config.client_id,
      redirect_uri: this.redirectURI,
      audience: this.config.audience,
      scope: this.config.scope,
      state,
      code_challenge: await challengeFor(verifier),
      code_challenge_method: "S256",
    });
    window.location.assign(`${this.config.authorization_endpoint}?${params}`);
  }

  /** Completes a login when the page was opened with ?code=&state=. Returns true when it did. */
  async handleRedirect() {
    const query = new URLSearchParams(window.location.search);
    const code = query.get("code");
    const error = query.get("error");
    if (!code && !error) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    sessionStorage.removeItem(PENDING_KEY);
    window.history.replaceState(null, "", window.location.pathname + (pending?.returnTo || ""));
    if (error) throw new Error(query.get("error_description") || error);
    if (!pending || pending.state !== query.get("state")) throw new Error("The login answer did not match this browser's request; log in again.");
    const response = await fetch(this.config.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...(await this.tokenRequestHeaders()) },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: this.config.client_id,
        code,
        code_verifier: pending.verifier,
        redirect_uri: this.redirectURI,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) throw new Error(body.error_description || "The identity provider refused the login.");
    this.session = { accessToken: body.access_token, expiresAt: Date.now() + (body.expires_in || 3600) * 1000, tokenType: body.token_type };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
    return true;
  }

  /** When DPoP is on, a proof for the token endpoint: the identity provider then binds the token to this browser's key. */
  async tokenRequestHeaders() {
    if (!this.config.dpop || !dpopAvailable()) return {};
    return { dpop: await dpopProof("POST", this.config.token_endpoint) };
  }

  /** The headers that authorize one API request: `DPoP <token>` with a fresh proof for a DPoP-bound token, else Bearer. */
  async authorizationHeaders(method, url) {
    const token = this.token;
    if (!token) return {};
    if ((this.session.tokenType || "").toLowerCase() !== "dpop") return { authorization: `Bearer ${token}` };
    return { authorization: `DPoP ${token}`, dpop: await dpopProof(method, url, token, this.dpopNonce) };
  }

  /** Keeps the server's DPoP nonce; true when the answer asked for a new proof with it (`use_dpop_nonce`). */
  rememberDPoPNonce(response) {
    const nonce = response.headers.get("DPoP-Nonce");
    if (nonce) this.dpopNonce = nonce;
    return Boolean(nonce) && response.status === 401 && /use_dpop_nonce/.test(response.headers.get("WWW-Authenticate") || "");
  }

  logout() {
    this.session = null;
    forgetDPoPKey();
    sessionStorage.removeItem(SESSION_KEY);
    const params = new URLSearchParams({ client_id: this.config.client_id, returnTo: window.location.origin + "/" });
    window.location.assign(`${this.config.logout_endpoint}?${params}`);
  }
}
