// DPoP (RFC 9449) end to end with panva's `dpop` package (npm) as the client, and panva/jose
// for the thumbprint, against the example auth_service and microservice (tests/it/http_e2e.rs).
// Usage: node dpop_flow.mjs <auth-url> <api-url> <user> <password>
// With an auth service that demands nonces it retries once with the DPoP-Nonce it was given.
import { generateKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';

const [auth, api, user, password] = process.argv.slice(2);
const check = (ok, what) => {
  if (!ok) {
    console.log(`FAILED: ${what}`);
    process.exit(1);
  }
};

// The auth service's latest DPoP-Nonce (RFC 9449 §8), when it demands nonces.
let nonce;
let nonceRetries = 0;

// A request to the auth service with a proof; once more with the nonce after use_dpop_nonce.
async function toAuth(kp, path, init) {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...init.headers };
    if (kp) headers.dpop = await generateProof(kp, `${auth}${path}`, 'POST', nonce);
    const r = await fetch(`${auth}${path}`, { ...init, method: 'POST', headers });
    nonce = r.headers.get('dpop-nonce') ?? nonce;
    if (attempt === 0 && r.status === 400 && kp
        && (await r.clone().json()).error === 'use_dpop_nonce') {
      nonceRetries++;
      continue;
    }
    return r;
  }
}

async function login(kp) {
  return toAuth(kp, '/login', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password, device: 'dpop-js' }),
  });
}

async function refresh(kp, token) {
  return toAuth(kp, '/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }),
  });
}

async function me(kp, access, scheme = 'DPoP', proof) {
  const headers = { authorization: `${scheme} ${access}` };
  if (kp) headers.dpop = proof ?? (await generateProof(kp, `${api}/me`, 'GET', undefined, access));
  return fetch(`${api}/me`, { headers });
}

for (const alg of ['ES256', 'RS256', 'PS256']) {
  const kp = await generateKeyPair(alg);
  const r = await login(kp);
  check(r.status === 200, `${alg}: login ${r.status} ${await r.clone().text()}`);
  const pair = await r.json();
  check(pair.token_type === 'DPoP', `${alg}: token_type ${pair.token_type}`);
  const jkt = await calculateJwkThumbprint(await exportJWK(kp.publicKey));
  check(decodeJwt(pair.access_token).cnf?.jkt === jkt, `${alg}: cnf.jkt is the key's thumbprint`);

  // The resource server: DPoP with a proof, never as a bearer token, never a replayed proof.
  const proof = await generateProof(kp, `${api}/me`, 'GET', undefined, pair.access_token);
  let m = await me(kp, pair.access_token, 'DPoP', proof);
  check(m.status === 200, `${alg}: /me with DPoP ${m.status} ${m.headers.get('www-authenticate')}`);
  m = await me(kp, pair.access_token, 'DPoP', proof);
  check(m.status === 401, `${alg}: replayed proof ${m.status}`);
  check(/^DPoP .*error="invalid_dpop_proof"/.test(m.headers.get('www-authenticate') ?? ''),
    `${alg}: replay challenge ${m.headers.get('www-authenticate')}`);
  m = await me(null, pair.access_token, 'Bearer');
  check(m.status === 401, `${alg}: bound token as bearer ${m.status}`);
  const other = await generateKeyPair('ES256');
  m = await me(other, pair.access_token);
  check(m.status === 401, `${alg}: proof by another key ${m.status}`);

  // The token endpoint: a bound session refreshes only with its key's proof, and a refusal
  // leaves it alive.
  let t = await refresh(kp, pair.refresh_token);
  check(t.status === 200, `${alg}: refresh ${t.status}`);
  const next = await t.json();
  check(next.token_type === 'DPoP' && next.refresh_token !== pair.refresh_token, `${alg}: rotated`);
  t = await refresh(null, next.refresh_token);
  check(t.status === 400 && (await t.json()).error === 'invalid_dpop_proof', `${alg}: no proof`);
  t = await refresh(other, next.refresh_token);
  check(t.status === 400 && (await t.json()).error === 'invalid_dpop_proof', `${alg}: thief's key`);
  t = await refresh(kp, next.refresh_token);
  check(t.status === 200, `${alg}: the session lives on (${t.status})`);
  const last = await t.json();
  m = await me(kp, last.access_token);
  check(m.status === 200, `${alg}: /me after refresh ${m.status}`);
}
console.log(`nonce retries: ${nonceRetries}`);
console.log('all ok');
