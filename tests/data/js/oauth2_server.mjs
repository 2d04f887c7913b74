// An OAuth 2.0 server nobody here wrote (the npm oauth2-mock-server package, pinned in
// package-lock.json), for the device client's interop test (tests/it/client_http.rs): its
// token endpoint answers the password and refresh_token grants with its own JSON. From the
// REFUSE_FROM-th refresh on (env, default never) it answers RFC 6749 §5.2 `invalid_grant`, as a
// server does for a revoked session. Prints "listening on <issuer url>" and serves until killed.
import { OAuth2Server } from 'oauth2-mock-server';

const refuseFrom = Number(process.env.REFUSE_FROM ?? 'Infinity');
let refreshes = 0;
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on('beforeResponse', (response, request) => {
  if (request.body?.grant_type !== 'refresh_token') return;
  refreshes += 1;
  console.log(`REFRESH ${refreshes} ${request.body.refresh_token}`);
  if (refreshes >= refuseFrom) {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'revoked' };
  }
});
await server.start(0, '127.0.0.1');
console.log(`listening on ${server.issuer.url}`);
