// Implementations nobody here wrote, against tidepass's Token Status List format:
// panva/jose verifies the Status List Token against the JWKS (typ statuslist+jwt, sub), and
// @sd-jwt/jwt-status-list decodes its list; and @sd-jwt's encoder makes a list for tidepass's
// decoder to read.
//
//     node status_list_check.mjs verify < {"jwt", "jwks", "uri", "bits", "expect": {"IDX": STATUS}}
//     node status_list_check.mjs make   < {"bits", "len", "set": {"IDX": STATUS}}
//     node status_list_check.mjs live   < {"issuer", "access_token", "tamper"}
//
// `verify` prints {"statuses": {...}} and exits non-zero when jose refuses the token or the
// list says otherwise than `expect`; `make` prints {"bits", "lst"}. `live` is a verifier of a
// running auth service: it reads the access token's `status.status_list`, finds the JWKS and
// the list aggregation through the issuer's RFC 8414 metadata, fetches the list (flipping a
// character of its payload first with `tamper`), verifies it with jose against the JWKS and
// prints {"status", "ttl", "max_age", "content_type", "listed"}; exit 2 when jose refuses it.

import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { StatusList, getListFromStatusListJWT } from "@sd-jwt/jwt-status-list";

const input = JSON.parse(await new Promise((done) => {
  let text = "";
  process.stdin.on("data", (c) => (text += c));
  process.stdin.on("end", () => done(text));
}));

if (process.argv[2] === "make") {
  const list = new StatusList(new Array(input.len).fill(0), input.bits);
  for (const [idx, status] of Object.entries(input.set)) list.setStatus(Number(idx), status);
  console.log(JSON.stringify({ bits: input.bits, lst: list.compressStatusList() }));
  process.exit(0);
}

if (process.argv[2] === "live") {
  const { idx, uri } = decodeJwt(input.access_token).status.status_list;
  const metadata = await (await fetch(`${input.issuer}/.well-known/oauth-authorization-server`)).json();
  const { status_lists } = await (await fetch(metadata.status_list_aggregation_endpoint)).json();
  const r = await fetch(uri, { headers: { accept: "application/statuslist+jwt" } });
  let jwt = await r.text();
  if (input.tamper) {
    const [h, p, s] = jwt.split(".");
    const at = Math.floor(p.length / 2);
    jwt = [h, p.slice(0, at) + (p[at] === "A" ? "B" : "A") + p.slice(at + 1), s].join(".");
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(metadata.jwks_uri)), {
      typ: "statuslist+jwt",
      subject: uri,
      requiredClaims: ["iat", "exp", "ttl"],
    }));
  } catch (e) {
    console.error(`REFUSED: ${e.code ?? e.message}`);
    process.exit(2);
  }
  const list = getListFromStatusListJWT(jwt);
  const maxAge = /max-age=(\d+)/.exec(r.headers.get("cache-control") ?? "");
  console.log(JSON.stringify({
    status: list.getStatus(idx),
    ttl: payload.ttl,
    max_age: maxAge ? Number(maxAge[1]) : null,
    content_type: r.headers.get("content-type"),
    listed: status_lists.includes(uri),
  }));
  process.exit(0);
}

let payload;
try {
  ({ payload } = await jwtVerify(input.jwt, createLocalJWKSet(input.jwks), {
    typ: "statuslist+jwt",
    subject: input.uri,
    requiredClaims: ["iat", "exp"],
  }));
} catch (e) {
  console.error(`REFUSED: ${e.code ?? e.message}`);
  process.exit(2);
}
const list = getListFromStatusListJWT(input.jwt);
const statuses = {};
let ok = payload.status_list.bits === input.bits && list.getBitsPerStatus() === input.bits;
for (const [idx, want] of Object.entries(input.expect)) {
  statuses[idx] = list.getStatus(Number(idx));
  ok &&= statuses[idx] === want;
}
console.log(JSON.stringify({ statuses }));
process.exit(ok ? 0 : 1);
