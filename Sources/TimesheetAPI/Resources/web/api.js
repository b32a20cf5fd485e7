// Calls the API with the access token and turns problem+json answers into errors that know their fields.

export class APIError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
    this.retryable = status === 503 || status === 0;
  }
}

export class API {
  constructor(auth, onUnauthorized) {
    this.auth = auth;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, body, isRetry = false) {
    await this.auth.ensureFresh();
    if (!this.auth.token) {
      this.onUnauthorized();
      throw new APIError(401, { detail: "Your session has ended. Log in again; what you typed is kept." });
    }
    const headers = await this.auth.authorizationHeaders(method, path);
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new APIError(0, { detail: "The network is unavailable. Check your connection and try again; nothing you typed is lost." });
    }
    if (this.auth.rememberDPoPNonce(response) && !isRetry) return this.request(method, path, body, true);
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => ({}));
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) {
      if (response.status === 503) payload.detail = "The service is briefly unavailable. Try again in a moment; nothing you typed is lost.";
      throw new APIError(response.status, payload);
    }
    return payload;
  }

  /** GET `path` as a file of type `accept`: its body as a Blob and the file name the server suggests. */
  async download(path, accept, isRetry = false) {
    await this.auth.ensureFresh();
    if (!this.auth.token) {
      this.onUnauthorized();
      throw new APIError(401, { detail: "Your session has ended. Log in again; what you typed is kept." });
    }
    let response;
    try {
      response = await fetch(path, { headers: { ...(await this.auth.authorizationHeaders("GET", path)), accept } });
    } catch {
      throw new APIError(0, { detail: "The network is unavailable. Check your connection and try again." });
    }
    if (this.auth.rememberDPoPNonce(response) && !isRetry) return this.download(path, accept, true);
    if (!response.ok) {
      const payload = await response.json().catch(() => ({}));
      if (response.status === 401) this.onUnauthorized();
      throw new APIError(response.status, payload);
    }
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || "download";
    return { blob: await response.blob(), name };
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  del(path) { return this.request("DELETE", path); }
}
