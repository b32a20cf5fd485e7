-- DPoP proofs (RFC 9449) already accepted, shared by every replica of the API: a proof captured at one replica and
-- replayed at another is refused because its key is here. `proof_key` is base64url(SHA-256(thumbprint "." jti)), so
-- every key has the same length whatever a client sends. A row is needed only until `expires_at` (the proof's iat
-- plus the accepted window); after that the proof is refused for its age, and the API deletes old rows in bounded
-- batches as it inserts new ones.
CREATE TABLE dpop_proof_replay (
    proof_key text PRIMARY KEY CHECK (length(proof_key) <= 64),
    expires_at timestamptz NOT NULL
);

CREATE INDEX dpop_proof_replay_expires_at ON dpop_proof_replay (expires_at);
