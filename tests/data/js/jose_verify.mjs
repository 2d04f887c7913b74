// panva/jose as a resource server: verify a live access token from the example auth service
// through its remote JWKS, with RFC 9068's `typ` and required claims, and refuse a tampered
// one and one for another audience.
//
//     node jose_verify.mjs ISSUER_URL ACCESS_TOKEN
//
// Exits non-zero on the first failure.

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";

const [issuer, token] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

// The JWKS URL from the RFC 8414 metadata, as a resource server would find it.
const meta = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
check(meta.issuer === issuer, "metadata issuer is the one asked for");
const jwks = createRemoteJWKSet(new URL(meta.jwks_uri));

const header = decodeProtectedHeader(token);
const { payload, protectedHeader } = await jwtVerify(token, jwks, {
  issuer,
  audience: "api",
  typ: "at+jwt",
  requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"],
  algorithms: [header.alg],
});
check(protectedHeader.kid !== undefined, `kid in the header (${protectedHeader.alg})`);
check(payload.client_id === "tidepass-example", "client_id (RFC 9068 2.2)");
check(typeof payload.auth_time === "number" && payload.acr === "1", "auth_time and acr (RFC 9068 2.2.1)");

// A tampered payload fails the signature; another audience fails the claims check.
const [h, p, s] = token.split(".");
const claims = JSON.parse(Buffer.from(p, "base64url").toString());
claims.sub = "mallory";
const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
let refused = false;
try {
  await jwtVerify(forged, jwks, { issuer, audience: "api" });
} catch (e) {
  refused = e.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
}
check(refused, "a tampered token is refused");
refused = false;
try {
  await jwtVerify(token, jwks, { issuer, audience: "billing" });
} catch (e) {
  refused = e.code === "ERR_JWT_CLAIM_VALIDATION_FAILED";
}
check(refused, "another audience is refused");
console.log("all ok");
