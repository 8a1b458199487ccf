// A standard relying party (openid-client) signing in with DatasetGateway
// as the OpenID provider: discovery, PKCE S256, state, nonce, the code
// exchange with id-token validation, userinfo and a refresh. The browser is
// played by a fetch carrying the person's DSG login cookie.
//
// node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI LOGIN_TOKEN
// prints one JSON line with what it saw.
import * as client from "openid-client";

const [issuer, clientId, clientSecret, redirectUri, loginToken] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid email profile groups datasets",
  code_challenge: challenge,
  code_challenge_method: "S256",
  state,
  nonce,
});
const answer = await fetch(url, { redirect: "manual", headers: { cookie: `dsg_token=${loginToken}` } });
const location = answer.headers.get("location");
const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({
  claims,
  userinfo,
  refreshed: {
    claims: refreshed.claims(),
    new_refresh_token: refreshed.refresh_token !== tokens.refresh_token,
  },
}));
