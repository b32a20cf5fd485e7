"""DPoP (RFC 9449) proofs made by an independent implementation (PyJWT and cryptography) against `timesheets dev`:
the correct proofs of three key types are served, each broken proof is a 401 with a DPoP challenge that changes
nothing, and the dev identity provider's `cnf.jkt` is the RFC 7638 thumbprint Python computes."""
import base64
import hashlib
import json
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key):
    """The public JWK of a private key, as PyJWT writes it, without private members."""
    public = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = public.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    numbers = public.public_numbers()
    return {"kty": "RSA", "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}


def thumbprint(jwk):
    """RFC 7638: the required members in lexicographic order, no whitespace, SHA-256, base64url."""
    required = {"EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"], "OKP": ["crv", "kty", "x"]}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


ALGORITHM = {"EC": "ES256", "RSA": "PS256", "OKP": "EdDSA"}


def proof(key, method, url, token=None, header=None, **claims):
    jwk = public_jwk(key)
    payload = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        payload["ath"] = b64(hashlib.sha256(token.encode()).digest())
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    fields = {"typ": "dpop+jwt", "jwk": jwk}
    fields.update(header or {})
    return jwt.encode(payload, key, algorithm=ALGORITHM[jwk["kty"]], headers=fields)


def unsigned(header, payload):
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


@pytest.fixture(scope="module")
def client_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def bound(dev, client_key):
    """An employee token bound to the module's key, signed the way the dev identity provider signs."""
    return dev.signer.token("employee", cnf={"jkt": thumbprint(public_jwk(client_key))})


def call(dev, token, dpop, method="GET", path="/timesheets", scheme="DPoP", **kwargs):
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return dev.api.session.request(method, dev.base + path, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize("make", [
    lambda: ec.generate_private_key(ec.SECP256R1()),
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    lambda: ed25519.Ed25519PrivateKey.generate(),
], ids=["ES256", "PS256", "EdDSA"])
def test_proofs_made_by_pyjwt_are_served_once(dev, make):
    key = make()
    token = dev.signer.token("employee", cnf={"jkt": thumbprint(public_jwk(key))})
    made = proof(key, "GET", dev.base + "/timesheets", token)
    first = call(dev, token, made, path="/timesheets?limit=3")
    assert first.status_code == 200, first.text
    replayed = call(dev, token, made)
    assert replayed.status_code == 401
    assert replayed.json()["detail"] == "DPoP proof already used"


def broken_proofs(dev, key, token, method):
    """Proofs for `method` on /timesheets, each broken in one way."""
    url = dev.base + "/timesheets"
    other_method = "POST" if method == "GET" else "GET"
    other = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key)
    private = dict(jwk, d=b64(key.private_numbers().private_value.to_bytes(32, "big")))
    now = int(time.time())
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": now, "ath": b64(hashlib.sha256(token.encode()).digest())}
    return {
        "typ JWT": proof(key, method, url, token, header={"typ": "JWT"}),
        "alg none": unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}, claims),
        "HS256 keyed with the jwk's x": jwt.encode(claims, base64.urlsafe_b64decode(jwk["x"] + "="), algorithm="HS256",
                                                   headers={"typ": "dpop+jwt", "jwk": jwk}),
        "private key in the jwk": proof(key, method, url, token, header={"jwk": private}),
        "another key (thumbprint is not cnf.jkt)": proof(other, method, url, token),
        "signed by another key under our jwk": proof(other, method, url, token, header={"jwk": jwk}),
        "htm of the other method": proof(key, other_method, url, token),
        "htu of another port": proof(key, method, "http://127.0.0.1:1/timesheets", token),
        "htu with https": proof(key, method, url.replace("http://", "https://"), token),
        "htu of another path": proof(key, method, dev.base + "/approvals", token),
        "iat two minutes old": proof(key, method, url, token, iat=now - 120),
        "iat a minute ahead": proof(key, method, url, token, iat=now + 60),
        "ath of another token": proof(key, method, url, "another-token"),
        "no ath": proof(key, method, url, None),
        "no jti": proof(key, method, url, token, jti=None),
        "jti of 10 KB": proof(key, method, url, token, jti="j" * 10_000),
        "not a JWT": "not-a-jwt",
    }


def test_each_broken_proof_is_401_with_a_dpop_challenge_and_changes_nothing(dev, client_key, bound):
    before = dev.snapshot()
    failures = []
    tried = 0
    entry = {"date": "2017-05-10", "project": "P", "hours": 1}
    # Each broken proof on a read and on a write: a 401 with a DPoP challenge, and nothing changes.
    for method, body in [("GET", None), ("POST", entry)]:
        for name, made in broken_proofs(dev, client_key, bound, method).items():
            tried += 1
            reply = call(dev, bound, made, method=method, json=body)
            challenge = reply.headers.get("WWW-Authenticate", "")
            if reply.status_code != 401 or not challenge.startswith("DPoP ") or 'algs="' not in challenge:
                failures.append(f"{name} {method}: {reply.status_code} {challenge}")
    assert not failures, failures
    assert dev.snapshot() == before
    from conftest import record_cases
    record_cases("DPoP proofs", tried, tried - len(failures))


def test_a_bound_token_is_never_a_bearer_token(dev, bound):
    reply = call(dev, bound, None, scheme="Bearer")
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].startswith('DPoP realm="api", error="invalid_token"')


def test_the_dev_identity_provider_binds_to_the_rfc_7638_thumbprint(dev):
    secret = open(f"{dev.data_dir}/dev-machine-client-secret").read().strip()
    key = ec.generate_private_key(ec.SECP256R1())
    reply = requests.post(
        dev.base + "/dev-idp/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "timesheets-batch", "client_secret": secret},
        headers={"DPoP": proof(key, "POST", dev.base + "/dev-idp/oauth/token")}, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["token_type"] == "DPoP"
    token = reply.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"]["jkt"] == thumbprint(public_jwk(key))
    served = call(dev, token, proof(key, "GET", dev.base + "/me", token), path="/me")
    assert served.status_code == 200, served.text
    assert served.json()["is_machine"] is True
