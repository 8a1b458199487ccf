// A real OpenID provider for DatasetGateway's integration tests.
//
//   node provider.mjs <redirect_uri>...
//
// Listens on a random loopback port and prints one JSON line
// {"issuer": "http://127.0.0.1:<port>"} once it accepts connections.
// Client "dsg-test" / secret "dsg-test-secret" may use the given redirect
// URIs. Accounts (log in with the account id, any password):
//   alice   alice@example.org, e-mail verified
//   carol   carol@other.org,   e-mail verified
//   mallory mallory@example.org, e-mail NOT verified
// Consent is granted automatically, so a login is: authorize -> login form
// POST -> redirect back with a code.
import Provider from 'oidc-provider';

const redirectUris = process.argv.slice(2);
const accounts = {
  alice: { email: 'alice@example.org', email_verified: true, name: 'Alice Liddell' },
  carol: { email: 'carol@other.org', email_verified: true, name: 'Carol' },
  mallory: { email: 'mallory@example.org', email_verified: false, name: 'Mallory' },
};

const configuration = {
  clients: [{
    client_id: 'dsg-test',
    client_secret: 'dsg-test-secret',
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  pkce: { required: () => true },
  // Put the scope's claims (email, name) in the ID token, as Google does.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['dsg-test-cookie-key'] },
  async findAccount(ctx, id) {
    const a = accounts[id];
    if (!a) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...a }; } };
  },
  async loadExistingGrant(ctx) {
    // Grant what the client asked for: no consent screen in tests.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
};

const server = (await import('node:http')).createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});

// Exit with the parent: the test harness closes our stdin.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
