// panva/jose as the issuer a tidepass `Follower` follows (tests/it/follow.rs): its own keys,
// its own JWKS and RFC 8414 metadata, its own RFC 9068 access tokens. Nothing here is
// tidepass's code.
//
//     node jose_issuer.mjs
//
// Listens on a free loopback port and prints `listening on URL` on the first line of stdout.
//   GET /.well-known/oauth-authorization-server   {issuer, jwks_uri}
//   GET /jwks                                     every key so far (counted)
//   GET /hits                                     how many times /jwks was fetched
//   GET /token?sub=S[&aud=A][&exp_in=N][&typ=T]   a token signed with the current key
//   GET /rogue?sub=S                              a token signed with a key not in the JWKS,
//                                                 under a kid that is not either
//   GET /rotate?alg=A                             a new current key of algorithm A, added
// Runs until its stdin closes (the test holds the pipe; when the test process dies, so does it).

import { createServer } from "node:http";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from "jose";

const keys = []; // { alg, kid, privateKey, jwk }
let hits = 0;
let issuer = "";

async function newKey(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { alg, kid, privateKey, jwk: { ...jwk, kid, alg, use: "sig" } };
}

async function sign(key, q) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: "jose-client", scope: "read" })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: q.get("typ") ?? "at+jwt" })
    .setIssuer(issuer)
    .setAudience(q.get("aud") ?? "api")
    .setSubject(q.get("sub") ?? "anyone")
    .setIssuedAt(now)
    .setExpirationTime(now + Number(q.get("exp_in") ?? 300))
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
}

keys.push(await newKey("ES256"));

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const send = (status, body, type = "application/json") => {
    res.writeHead(status, { "content-type": type });
    res.end(typeof body === "string" ? body : JSON.stringify(body));
  };
  try {
    switch (url.pathname) {
      case "/.well-known/oauth-authorization-server":
        return send(200, { issuer, jwks_uri: `${issuer}/jwks` });
      case "/jwks":
        hits += 1;
        return send(200, { keys: keys.map((k) => k.jwk) });
      case "/hits":
        return send(200, String(hits), "text/plain");
      case "/token":
        return send(200, await sign(keys[keys.length - 1], url.searchParams), "text/plain");
      case "/rogue": {
        const rogue = await newKey("ES256");
        return send(200, await sign(rogue, url.searchParams), "text/plain");
      }
      case "/rotate":
        keys.push(await newKey(url.searchParams.get("alg") ?? "ES256"));
        return send(200, keys[keys.length - 1].kid, "text/plain");
      default:
        return send(404, { error: "not_found" });
    }
  } catch (e) {
    return send(500, String(e), "text/plain");
  }
});

server.listen(0, "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening on ${issuer}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
