// Every Session API method through a real Connect client (connect-es, JSON codec) with ZITADEL's
// published protos, against a running Vestibule. Environment: VESTIBULE_URL, VESTIBULE_API_KEY,
// VESTIBULE_LOGIN, VESTIBULE_PASSWORD. Prints one line per step; exits 1 on the first failure.
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SessionService as V2 } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
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

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

function transport(key) {
  return createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    useBinaryFormat: false,
    interceptors: key
      ? [(next) => async (req) => { req.header.set("authorization", `Bearer ${key}`); return next(req); }]
      : [],
  });
}

async function expectError(promise, code, what) {
  try {
    await promise;
  } catch (err) {
    const e = ConnectError.from(err);
    check(e.code === code, `${what}: code ${Code[e.code]} (${e.rawMessage})`);
    return e;
  }
  throw new Error(`failed: ${what}: no error`);
}

async function roundTrip(name, service) {
  const client = createClient(service, transport(apiKey));
  const anonymous = createClient(service, transport(undefined));

  const created = await client.createSession({
    checks: { user: { search: { case: "loginName", value: login } } },
    metadata: { origin: new TextEncoder().encode("connect") },
    lifetime: { seconds: 3600n, nanos: 0 },
  });
  check(created.sessionId && created.sessionToken, `${name} CreateSession returns id and token`);
  check(created.details && created.details.sequence > 0n, `${name} CreateSession details.sequence`);

  const wrong = await expectError(
    client.setSession({ sessionId: created.sessionId, checks: { password: { password: "not the password" } } }),
    Code.InvalidArgument,
    `${name} SetSession with a wrong password`,
  );
  const detail = wrong.findDetails(CredentialsCheckErrorSchema)[0];
  check(detail && detail.id === "COMMAND-3M0fs" && detail.failedAttempts === 1,
    `${name} CredentialsCheckError detail with failedAttempts 1`);

  const set = await client.setSession({
    sessionId: created.sessionId,
    checks: { password: { password } },
  });
  check(set.sessionToken && set.sessionToken !== created.sessionToken, `${name} SetSession rotates the token`);

  const got = await client.getSession({ sessionId: created.sessionId, sessionToken: set.sessionToken });
  const session = got.session;
  check(session.id === created.sessionId, `${name} GetSession returns the session`);
  check(session.factors?.user?.loginName?.toLowerCase() === login.toLowerCase(), `${name} user factor`);
  check(session.factors?.password?.verifiedAt !== undefined, `${name} password factor`);
  check(session.factors?.totp === undefined, `${name} unchecked factors are absent`);
  check(new TextDecoder().decode(session.metadata.origin) === "connect", `${name} metadata bytes`);
  check(session.expirationDate !== undefined, `${name} expiration date`);

  await expectError(
    anonymous.getSession({ sessionId: created.sessionId, sessionToken: created.sessionToken }),
    Code.PermissionDenied,
    `${name} GetSession with the old token`,
  );
  const own = await anonymous.getSession({ sessionId: created.sessionId, sessionToken: set.sessionToken });
  check(own.session.id === created.sessionId, `${name} GetSession with the session's own token and no key`);

  const list = await client.listSessions({
    query: { offset: 0n, limit: 10, asc: true },
    queries: [{ query: { case: "idsQuery", value: { ids: [created.sessionId] } } }],
  });
  check(list.details.totalResult === 1n && list.sessions.length === 1, `${name} ListSessions by id`);

  await expectError(
    createClient(service, transport("vst_wrong")).listSessions({}),
    Code.Unauthenticated,
    `${name} a wrong API key`,
  );

  const deleted = await client.deleteSession({ sessionId: created.sessionId, sessionToken: set.sessionToken });
  check(deleted.details !== undefined, `${name} DeleteSession`);
  await expectError(
    client.getSession({ sessionId: created.sessionId }),
    Code.NotFound,
    `${name} GetSession of a terminated session`,
  );
  const gone = await client.listSessions({
    queries: [{ query: { case: "idsQuery", value: { ids: [created.sessionId] } } }],
  });
  check(gone.details.totalResult === 0n && gone.sessions.length === 0, `${name} ListSessions omits it`);
  await expectError(
    client.setSession({ sessionId: created.sessionId, metadata: { k: new Uint8Array([1]) } }),
    Code.FailedPrecondition,
    `${name} SetSession on a terminated session`,
  );
}

try {
  await roundTrip("v2", V2);
  await roundTrip("v2beta", V2beta);
  console.log("connect round trip: all methods passed");
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
