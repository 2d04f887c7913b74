"""Drive tidepass's example auth service with OAuth libraries nobody here wrote.

Authlib (OAuth 2.0 client: refresh, automatic refresh, RFC 7009 revoke, RFC 7662 introspect
with client_secret_basic and client_secret_post) and PyJWT (remote JWKS verification of a
live access token, RFC 9068's typ and required claims). Exits non-zero on the first failure.

    python3 authlib_client.py BASE_URL USER PASSWORD CLIENT_SECRET
"""

import os
import sys
import time

# Loopback HTTP in the test: Authlib insists on https unless told otherwise.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url

base, user, password, secret = sys.argv[1:5]
ISSUER, AUDIENCE = base, "api"  # the service's default issuer: the URL it listens on


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


# RFC 8414 discovery: Authlib's own validation of every field, and the issuer must be the URL
# the metadata came from (section 3.3).
meta = requests.get(get_well_known_url(base, external=True)).json()
validated = AuthorizationServerMetadata(meta)
# Every registered field through Authlib's validator but one: the service has no
# authorization endpoint, so it supports no response type and answers the required
# `response_types_supported` as an empty array, which Authlib reads as missing.
check(meta["response_types_supported"] == [], "no response types (no authorization endpoint)")
for key in validated.REGISTRY_KEYS:
    if key != "response_types_supported":
        getattr(validated, f"validate_{key}")()
check(meta["issuer"] == base, "RFC 8414 3.3: issuer matches the metadata URL")
check(meta["token_endpoint"] == f"{base}/token", "token endpoint from the metadata")

r = requests.post(f"{base}/login", json={"username": user, "password": password})
check(r.status_code == 200, "login")
token = r.json()
check(r.headers.get("cache-control") == "no-store", "RFC 6749 5.1: Cache-Control no-store")

# Refresh through Authlib (a public client: token_endpoint_auth_method none).
updates = []
client = OAuth2Session(
    client_id="tidepass-example",
    token=token,
    token_endpoint=f"{base}/token",
    token_endpoint_auth_method="none",
    update_token=lambda t, refresh_token=None, access_token=None: updates.append(t),
    leeway=10_000,  # every token counts as about to expire: automatic refresh on each call
)
new = client.refresh_token(f"{base}/token", refresh_token=token["refresh_token"])
check(new["refresh_token"] != token["refresh_token"], "refresh rotates the refresh token")
check(new["token_type"].lower() == "bearer", "token_type Bearer")

# Automatic refresh: Authlib refreshes before the call and hands the new token over.
before = client.token["refresh_token"]
r = client.get(f"{base}/sessions")
check(r.status_code == 200, "an API call after automatic refresh")
check(updates and client.token["refresh_token"] != before, "automatic refresh happened")

# A bad refresh token: RFC 6749 5.2 invalid_grant, which Authlib raises as an OAuthError.
try:
    client.refresh_token(f"{base}/token", refresh_token="tprt_" + "A" * 78)
    check(False, "a forged refresh token is refused")
except Exception as e:  # authlib.integrations.base_client.errors.OAuthError
    check("invalid_grant" in str(e), f"invalid_grant for a forged token ({e})")

# PyJWT: remote JWKS, RFC 9068.
access = client.token["access_token"]
header = jwt.get_unverified_header(access)
check(header.get("typ") in ("at+jwt", "application/at+jwt"), f"RFC 9068 typ ({header})")
key = jwt.PyJWKClient(f"{base}/.well-known/jwks.json").get_signing_key_from_jwt(access)
claims = jwt.decode(
    access,
    key.key,
    algorithms=[header["alg"]],
    audience=AUDIENCE,
    issuer=ISSUER,
    options={"require": ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]},
)
check(claims["client_id"] == "tidepass-example", "client_id present (RFC 9068 2.2)")
check(claims.get("acr") == "1" and isinstance(claims.get("auth_time"), int), "acr and auth_time (RFC 9068 2.2.1)")

# Introspection, both client authentication methods (RFC 6749 2.3.1).
for method in ("client_secret_basic", "client_secret_post"):
    rs = OAuth2Session(
        client_id="resource-server",
        client_secret=secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    r = rs.introspect_token(f"{base}/introspect", token=access)
    check(r.status_code == 200 and r.json()["active"] is True, f"introspect ({method})")

# RFC 7009: revoke the access token, then it introspects as inactive and the API refuses it.
r = client.revoke_token(f"{base}/revoke", token=access, token_type_hint="access_token")
check(r.status_code == 200, "revoke the access token")
rs = OAuth2Session(client_id="resource-server", client_secret=secret)
r = rs.introspect_token(f"{base}/introspect", token=access)
check(r.json()["active"] is False, "a revoked access token is inactive")
r = requests.get(f"{base}/sessions", headers={"authorization": f"Bearer {access}"})
check(r.status_code == 401, "a revoked access token is refused")

# Revoke the refresh token: the session ends.
refresh = client.token["refresh_token"]
r = client.revoke_token(f"{base}/revoke", token=refresh, token_type_hint="refresh_token")
check(r.status_code == 200, "revoke the refresh token")
r = rs.introspect_token(f"{base}/introspect", token=refresh)
check(r.json()["active"] is False, "a revoked refresh token is inactive")
print("all ok")
