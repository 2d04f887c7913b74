// Implementations nobody here wrote, against tidepass's Token Status List format:
// panva/jose verifies the Status List Token against the JWKS (typ statuslist+jwt, sub), and
// @sd-jwt/jwt-status-list decodes its list; and @sd-jwt's encoder makes a list for tidepass's
// decoder to read.
//
//     node status_list_check.mjs verify < {"jwt", "jwks", "uri", "bits", "expect": {"IDX": STATUS}}
//     node status_list_check.mjs make   < {"bits", "len", "set": {"IDX": STATUS}}
//
// `verify` prints {"statuses": {...}} and exits non-zero when jose refuses the token or the
// list says otherwise than `expect`; `make` prints {"bits", "lst"}.

import { createLocalJWKSet, jwtVerify } from "jose";
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
