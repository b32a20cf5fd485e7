"""The reference deployment's own setup, and the start-up and readiness rules around it: users identified by the
namespaced email claim while the batch client uses client credentials, readiness that never hammers a down identity
provider nor names it, discovery documents that must be the issuer's own, and dev mode kept on loopback.

Tokens here are signed by PyJWT, an implementation independent of AuthKit."""
import os
import subprocess
import tempfile

import pytest
import requests

import stack

EMAIL = "https://api.exampleco.com/email"


@pytest.fixture(scope="module")
def database():
    postgres = stack.Postgres()
    stack.migrate(postgres.url)
    yield postgres
    postgres.destroy()


def start_serve(database_url, identity, settings, wait_ready=True):
    """`timesheets serve` with `settings` replacing the default AUTH_* names (an empty value unsets one)."""
    base = {"AUTH_ISSUER": "", "AUTH_AUDIENCE": ""}
    base.update(settings)
    if wait_ready:
        return stack.Serve(database_url, identity, extra_env=base)
    port = stack.free_port()
    log = tempfile.NamedTemporaryFile(prefix="timesheets-serve-", suffix=".log", delete=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE_URL"))}
    env.update({"DATABASE_URL": database_url, "PORT": str(port), "LOG_LEVEL": "warning", **base})
    process = subprocess.Popen([stack.binary(), "serve"], stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=tempfile.gettempdir())
    url = f"http://127.0.0.1:{port}"

    def live():
        if process.poll() is not None:
            raise stack.ProcessExited("serve exited early: " + open(log.name).read())
        try:
            return requests.get(url + "/health/live", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False
    stack.wait_until(live, 60, "serve to listen")
    return process, url, log.name


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_reference_configuration_uploads_batches_end_to_end(database):
    """ISSUER_BASE_URL/AUDIENCE (Auth0's Node middleware names), AUTH_USER_ID_CLAIM = the email claim, and a batch
    client whose client-credentials token carries no email: the cron client's single object and an array upload."""
    identity = stack.IdentityProvider()
    server = start_serve(database.url, identity, {
        "ISSUER_BASE_URL": identity.issuer.rstrip("/"), "AUDIENCE": stack.AUDIENCE, "AUTH_USER_ID_CLAIM": EMAIL})
    try:
        signer = identity.signer
        machine = signer.token("machine")  # sub timesheets-batch@clients, gty client-credentials, no email
        employee = signer.token("employee", **{EMAIL: "employee@exampleco.com"})
        single = server.api.call("POST", "/timesheets/upload", machine, json_body={
            "user_id": "employee@exampleco.com", "date": "2017-05-12T17:40:20.095Z", "project": "StoreZero", "hours": 5})
        assert single.status_code == 201, single.text
        array = server.api.call("POST", "/timesheets/upload", machine, json_body=[
            {"user_id": "employee@exampleco.com", "date": "2017-05-13", "project": "StoreZero", "hours": 2},
            {"user_id": "contractor@exampleco.com", "date": "2017-05-13", "project": "StoreZero", "hours": 3}])
        assert array.status_code == 201, array.text
        mine = server.api.call("GET", "/timesheets", employee).json()["items"]
        assert {item["user_id"] for item in mine} == {"employee@exampleco.com"} and len(mine) == 2
        me = server.api.call("GET", "/me", machine).json()
        assert me["user_id"] == "timesheets-batch@clients" and me["is_machine"] is True
        # A user token without the email claim is still refused, with the RFC 6750 challenge.
        anonymous = server.api.call("GET", "/timesheets", signer.token("employee"))
        assert anonymous.status_code == 401
        assert "Missing 'https://api.exampleco.com/email' claim" in anonymous.headers["www-authenticate"]
    finally:
        server.stop()
        identity.close()


def test_readiness_probes_stay_within_the_jwks_limits_and_name_no_host(database):
    """Identity provider down from the start: 60 readiness probes cause at most a handful of JWKS fetches, and the
    public answer names neither the provider's URL nor its host."""
    identity = stack.IdentityProvider()
    identity.mode = "down"
    process, url, _ = start_serve(database.url, identity, {"AUTH_ISSUER": identity.issuer, "AUTH_AUDIENCE": stack.AUDIENCE},
                                  wait_ready=False)
    try:
        before = identity.jwks_requests
        for _ in range(60):
            reply = requests.get(url + "/health/ready", timeout=10)
            assert reply.status_code == 503
            assert "127.0.0.1" not in reply.text and "http" not in reply.text, reply.text
        assert identity.jwks_requests - before <= 5, f"{identity.jwks_requests - before} fetches for 60 probes"
    finally:
        stop(process)
        identity.close()


@pytest.mark.parametrize("overrides", [
    {"issuer": "https://evil.example/"},
    {"jwks_uri": "https://evil.example/.well-known/jwks.json"},
    {"jwks_uri": "http://127.0.0.2:9/.well-known/jwks.json"},
], ids=["other-issuer", "other-host", "other-loopback-host"])
def test_a_discovery_document_that_is_not_the_issuers_own_is_refused(database, overrides):
    identity = stack.IdentityProvider()
    identity.discovery_overrides = overrides
    process, url, log = start_serve(database.url, identity, {"AUTH_ISSUER": identity.issuer, "AUTH_AUDIENCE": stack.AUDIENCE},
                                    wait_ready=False)
    try:
        assert requests.get(url + "/health/ready", timeout=10).status_code == 503
        token = identity.signer.token("employee")
        assert requests.get(url + "/timesheets", headers={"authorization": f"Bearer {token}"}, timeout=10).status_code == 503
        assert identity.jwks_requests == 0, "keys were fetched from a location the issuer did not vouch for"
    finally:
        stop(process)
        identity.close()
    text = open(log).read()
    assert "issuer" in text or "jwks_uri" in text, text


def test_keys_on_another_origin_are_never_fetched(database):
    """A discovery document pointing at a working JWKS on another port of the same host: refused, never fetched."""
    identity = stack.IdentityProvider()
    elsewhere = stack.IdentityProvider()
    identity.discovery_overrides = {"jwks_uri": elsewhere.issuer + ".well-known/jwks.json"}
    process, url, _ = start_serve(database.url, identity, {"AUTH_ISSUER": identity.issuer, "AUTH_AUDIENCE": stack.AUDIENCE},
                                  wait_ready=False)
    try:
        assert requests.get(url + "/health/ready", timeout=10).status_code == 503
        token = elsewhere.signer.token("employee", iss=identity.issuer)
        reply = requests.get(url + "/timesheets", headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert reply.status_code == 503
        assert elsewhere.jwks_requests == 0, "keys were fetched from another origin"
    finally:
        stop(process)
        identity.close()
        elsewhere.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_dev_mode_listens_on_loopback_only(host):
    data = tempfile.mkdtemp(prefix="timesheets-dev-host-")
    result = subprocess.run([stack.binary(), "dev", "--host", host, "--port", str(stack.free_port()), "--data-dir", data],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "dev mode listens on loopback only" in result.stderr
    assert "--unsafe-allow-remote-dev-login" in result.stderr


def test_es384_es512_and_eddsa_tokens_signed_by_pyjwt_are_served(database):
    """AuthKit's EC and EdDSA verification against an independent implementation: PyJWT signs, AuthKit verifies."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm

    identity = stack.IdentityProvider()
    keys = {
        "ES384": (ec.generate_private_key(ec.SECP384R1()), ECAlgorithm),
        "ES512": (ec.generate_private_key(ec.SECP521R1()), ECAlgorithm),
        "EdDSA": (ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm),
    }
    for algorithm, (key, family) in keys.items():
        jwk = json.loads(family.to_jwk(key.public_key()))
        jwk.update({"kid": f"pyjwt-{algorithm.lower()}", "use": "sig", "alg": algorithm})
        identity.extra_jwks.append(jwk)
    server = start_serve(database.url, identity, {
        "AUTH_ISSUER": identity.issuer, "AUTH_AUDIENCE": stack.AUDIENCE, "AUTH_ALGORITHMS": "RS256,ES384,ES512,EdDSA"})
    try:
        for algorithm, (key, _) in keys.items():
            token = identity.signer.sign(identity.signer.claims("employee"), headers={"kid": f"pyjwt-{algorithm.lower()}"},
                                         key=key, algorithm=algorithm)
            reply = server.api.call("GET", "/me", token)
            assert reply.status_code == 200, (algorithm, reply.text)
            assert reply.json()["subject"] == stack.SUBJECTS["employee"]
            # The same token with its payload changed: the signature no longer holds.
            header, payload, signature = token.split(".")
            forged = identity.signer.sign(identity.signer.claims("manager"), headers={"kid": f"pyjwt-{algorithm.lower()}"},
                                          key=key, algorithm=algorithm).split(".")[1]
            tampered = server.api.call("GET", "/me", ".".join([header, forged, signature]))
            assert tampered.status_code == 401, (algorithm, tampered.text)
            assert "Invalid signature" in tampered.headers["www-authenticate"]
    finally:
        server.stop()
        identity.close()
