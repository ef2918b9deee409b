// ZITADEL's published TypeScript client, @zitadel/client 1.3.x, unmodified and with its default
// settings, against a running Vestibule: the Session API v2 and v2beta over one transport.
//
//   VESTIBULE_URL, VESTIBULE_API_KEY, VESTIBULE_OTHER_KEY (a second session-scope key),
//   VESTIBULE_LOGIN, VESTIBULE_PASSWORD
//   VESTIBULE_TRANSPORT  grpc | grpc-web | connect-binary | connect-json
//   VESTIBULE_SCENARIO   main (default) | ownership   (the second needs the engine's ownership rules)
//
// Prints "ok: ..." per check and exits 1 on the first failure.
import { create, createClientFor, NewAuthorizationBearerInterceptor, timestampFromMs } from "@zitadel/client";
import { createServerTransport } from "@zitadel/client/node";
import { createClientTransport } from "@zitadel/client/web";
import { createSessionServiceClient } from "@zitadel/client/v2";
import { ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { SessionService as V2beta } from "@zitadel/proto/zitadel/session/v2beta/session_service_pb.js";
import { CredentialsCheckErrorSchema } from "@zitadel/proto/zitadel/message_pb.js";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const baseUrl = env("VESTIBULE_URL");
const apiKey = env("VESTIBULE_API_KEY");
const login = env("VESTIBULE_LOGIN");
const password = env("VESTIBULE_PASSWORD");
const kind = env("VESTIBULE_TRANSPORT");
const scenario = process.env.VESTIBULE_SCENARIO || "main";

// How a ZITADEL user would build each transport: the SDK's own factories where it has one.
function transport(token) {
  const auth = token ? [NewAuthorizationBearerInterceptor(token)] : [];
  switch (kind) {
    case "grpc":
      // gRPC over HTTP/2 (h2c here, h2 over TLS for an https URL).
      return token ? createServerTransport(token, { baseUrl }) : createGrpcTransport({ baseUrl });
    case "grpc-web":
      // The SDK's browser transport (fetch; Node's fetch speaks HTTP/1.1).
      return token ? createClientTransport(token, { baseUrl }) : createGrpcWebTransport({ baseUrl });
    case "connect-binary":
      // Connect with its default codec, protobuf.
      return createConnectTransport({ baseUrl, httpVersion: "2", interceptors: auth });
    case "connect-json":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: auth });
    default:
      throw new Error(`unknown transport ${kind}`);
  }
}

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${kind}: ${what}`);
  console.log(`ok: ${kind}: ${what}`);
}

async function expectError(promise, code, what) {
  try {
    await promise;
  } catch (err) {
    const e = ConnectError.from(err);
    check(e.code === code, `${what}: ${Code[e.code]} (${e.rawMessage})`);
    return e;
  }
  throw new Error(`failed: ${kind}: ${what}: no error`);
}

const bytes = new Uint8Array([0, 1, 127, 128, 255]);
const sameBytes = (a, b) => a && a.length === b.length && a.every((x, i) => x === b[i]);

async function main(name, client, anonymous) {
  await expectError(
    anonymous.createSession({ checks: { user: { search: { case: "loginName", value: login } } } }),
    Code.Unauthenticated,
    `${name} no bearer is Unauthenticated`,
  );

  const before = Date.now();
  const created = await client.createSession({
    checks: {
      user: { search: { case: "loginName", value: login } },
      password: { password },
    },
    metadata: { raw: bytes },
    lifetime: { seconds: 3600n, nanos: 500_000_000 },
    userAgent: { description: "sdk test", header: { "x-sdk": { values: ["zitadel-client"] } } },
  });
  check(created.sessionId && created.sessionToken, `${name} create with user and password`);
  check(created.details?.sequence > 0n && created.details?.changeDate, `${name} details`);

  const wrong = await expectError(
    client.setSession({ sessionId: created.sessionId, checks: { password: { password: "not the password" } } }),
    Code.InvalidArgument,
    `${name} wrong password`,
  );
  check(wrong.rawMessage.includes("COMMAND-3M0fs"), `${name} wrong password message names COMMAND-3M0fs`);
  const detail = wrong.findDetails(CredentialsCheckErrorSchema)[0];
  check(detail?.id === "COMMAND-3M0fs" && detail.failedAttempts === 1, `${name} CredentialsCheckError detail`);

  const set = await client.setSession({
    sessionId: created.sessionId,
    checks: { password: { password } },
    metadata: { second: new TextEncoder().encode("two") },
  });
  check(set.sessionToken && set.sessionToken !== created.sessionToken, `${name} token rotation`);

  await expectError(
    client.getSession({ sessionId: created.sessionId, sessionToken: created.sessionToken }),
    Code.PermissionDenied,
    `${name} old token refused`,
  );
  const got = (await client.getSession({ sessionId: created.sessionId, sessionToken: set.sessionToken })).session;
  check(got?.id === created.sessionId, `${name} get with the new token`);
  check(got.factors?.user?.loginName?.toLowerCase() === login.toLowerCase(), `${name} user factor`);
  check(got.factors?.password?.verifiedAt?.seconds > 0n, `${name} password factor timestamp`);
  check(sameBytes(got.metadata.raw, bytes), `${name} metadata bytes round trip`);
  check(new TextDecoder().decode(got.metadata.second) === "two", `${name} metadata added by SetSession`);
  const expires = Number(got.expirationDate?.seconds ?? 0n) * 1000;
  check(expires >= before + 3590_000 && expires <= Date.now() + 3610_000, `${name} lifetime (Duration) sets expirationDate`);
  check(got.userAgent?.header?.["x-sdk"]?.values?.[0] === "zitadel-client", `${name} user agent header map`);

  const listed = await client.listSessions({
    queries: [
      { query: { case: "idsQuery", value: { ids: [created.sessionId] } } },
      {
        query: {
          case: "creationDateQuery",
          value: { creationDate: timestampFromMs(before - 60_000), method: 1 /* GREATER */ },
        },
      },
    ],
  });
  check(
    listed.sessions.length === 1 && listed.sessions[0].id === created.sessionId && listed.details?.totalResult === 1n,
    `${name} list by ids (and a creation-date Timestamp)`,
  );

  // Without a user check the challenge starts a discoverable passkey sign-in (the demo user
  // has no passkey registered, which a user-bound challenge would refuse).
  const passkey = await client.createSession({
    challenges: { webAuthN: { domain: new URL(baseUrl).hostname, userVerificationRequirement: 1 } },
  });
  const options = passkey.challenges?.webAuthN?.publicKeyCredentialRequestOptions;
  check(options && typeof options.publicKey?.challenge === "string", `${name} WebAuthn challenge options present (Struct)`);
  // A Struct the client encodes: an assertion with the wrong shape is refused as bad input.
  const refused = await expectError(
    client.setSession({
      sessionId: passkey.sessionId,
      checks: { webAuthN: { credentialAssertionData: { id: "AAAA", type: "public-key", response: { nested: [1, "x", true, null] } } } },
    }),
    Code.InvalidArgument,
    `${name} a malformed WebAuthn assertion (Struct) is refused`,
  );
  check(/[A-Z]+-[A-Za-z0-9]+/.test(refused.rawMessage), `${name} the refusal names an error id`);
}

async function ownership(name, client, other) {
  const created = await client.createSession({
    checks: { user: { search: { case: "loginName", value: login } }, password: { password } },
  });
  const mine = await other.listSessions({ queries: [{ query: { case: "idsQuery", value: { ids: [created.sessionId] } } }] });
  check(mine.sessions.length === 0, `${name} a key sees only its own sessions`);
  await client.deleteSession({ sessionId: created.sessionId, sessionToken: created.sessionToken });
  await expectError(
    client.getSession({ sessionId: created.sessionId }),
    Code.NotFound,
    `${name} delete then get fails`,
  );
}

for (const [name, make] of [
  ["v2", (t) => createSessionServiceClient(t)],
  ["v2beta", (t) => createClientFor(V2beta)(t)],
]) {
  const client = make(transport(apiKey));
  if (scenario === "ownership") {
    await ownership(name, client, make(transport(env("VESTIBULE_OTHER_KEY"))));
  } else {
    await main(name, client, make(transport(undefined)));
  }
}
console.log(`sdk ${kind} ${scenario}: all passed`);
