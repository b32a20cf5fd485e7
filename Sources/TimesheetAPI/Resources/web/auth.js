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
        if (session.expiresAt > Date.now() + 5000 || session.refreshToken) this.session = session;
      } catch { sessionStorage.removeItem(SESSION_KEY); }
    }
    if (this.session) this.scheduleRenewal();
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
    this.keepTokens(body);
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

  async logout() {
    clearTimeout(this.renewalTimer);
    this.session = null;
    sessionStorage.removeItem(SESSION_KEY);
    // The key goes before the page does: a key left behind would still prove possession for this browser.
    await forgetDPoPKey();
    const params = new URLSearchParams({ client_id: this.config.client_id, returnTo: window.location.origin + "/" });
    window.location.assign(`${this.config.logout_endpoint}?${params}`);
  }

  // ---- Renewal: refresh-token rotation ------------------------------------------------------------------------
  // With `offline_access` the token endpoint also hands out a one-time refresh token. Before the access token
  // expires, the client trades the refresh token for a new access token and the next refresh token (the old one is
  // spent; presenting it again revokes the login). Nothing reloads, so whatever the user is typing stays as it is.

  /** Stores a token endpoint's answer and plans the next renewal. */
  keepTokens(body) {
    const lifetime = (body.expires_in || 3600) * 1000;
    this.session = {
      accessToken: body.access_token,
      // `DPoP` for a token bound to this browser's key (sent with a proof per request), else `Bearer`.
      tokenType: body.token_type,
      expiresAt: Date.now() + lifetime,
      lifetime,
      refreshToken: body.refresh_token || null,
    };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
    this.scheduleRenewal();
  }

  /** Renews when about a third of the token's life is left (at least 6 s, at most a minute, before it expires). */
  scheduleRenewal() {
    clearTimeout(this.renewalTimer);
    if (!this.session?.refreshToken) return;
    const lifetime = this.session.lifetime || 3600 * 1000;
    const early = Math.min(60_000, Math.max(6_000, lifetime * 0.3));
    const delay = Math.max(0, this.session.expiresAt - early - Date.now());
    this.renewalTimer = setTimeout(() => this.renew().catch(() => {}), delay);
  }

  /** A fresh access token if one can be had: renews first when the current one is (nearly) expired. */
  async ensureFresh() {
    if (this.token || !this.session?.refreshToken) return;
    await this.renew().catch(() => {});
  }

  /** Trades the refresh token for new tokens; one exchange at a time, since a refresh token works once. */
  renew() {
    if (!this.renewing) this.renewing = this.exchangeRefreshToken().finally(() => { this.renewing = null; });
    return this.renewing;
  }

  async exchangeRefreshToken() {
    const refreshToken = this.session?.refreshToken;
    if (!refreshToken) throw new Error("No refresh token; log in again.");
    let response;
    try {
      response = await fetch(this.config.token_endpoint, {
        method: "POST",
        // With DPoP, the renewed token is bound to the same key: the refresh request carries a proof too.
        headers: { "content-type": "application/x-www-form-urlencoded", ...(await this.tokenRequestHeaders()) },
        body: new URLSearchParams({ grant_type: "refresh_token", client_id: this.config.client_id, refresh_token: refreshToken }),
      });
    } catch (error) {
      // Offline for now: try again shortly while the current token still works.
      if (this.token) this.renewalTimer = setTimeout(() => this.renew().catch(() => {}), 5_000);
      throw error;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      // A passing failure (the identity provider restarting, a proxy's 502/503): try again shortly, keep the token.
      if (response.status >= 500 || response.status === 429) {
        if (this.token) this.renewalTimer = setTimeout(() => this.renew().catch(() => {}), 5_000);
        throw new Error("The identity provider is busy; the session will be renewed in a moment.");
      }
      // Refused (expired or revoked login): keep the current token until it expires, then the app asks for a login.
      if (this.session) {
        this.session.refreshToken = null;
        sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.session));
      }
      throw new Error(body.error_description || "The identity provider refused to renew the session.");
    }
    this.keepTokens(body);
    window.dispatchEvent(new CustomEvent("timesheets:token-renewed", { detail: { expiresAt: this.session.expiresAt } }));
  }
}
