// CreateSession with a user check, as fast as one @zitadel/client transport goes: a warm-up,
// then VESTIBULE_CALLS calls with VESTIBULE_CONCURRENCY in flight. Prints one JSON line.
//   VESTIBULE_URL, VESTIBULE_API_KEY, VESTIBULE_LOGIN, VESTIBULE_TRANSPORT (as in sdk.mjs)
import { NewAuthorizationBearerInterceptor } from "@zitadel/client";
import { createServerTransport } from "@zitadel/client/node";
import { createClientTransport } from "@zitadel/client/web";
import { createSessionServiceClient } from "@zitadel/client/v2";
import { createConnectTransport } from "@connectrpc/connect-node";

const { VESTIBULE_URL: baseUrl, VESTIBULE_API_KEY: key, VESTIBULE_LOGIN: login } = process.env;
const kind = process.env.VESTIBULE_TRANSPORT;
const calls = Number(process.env.VESTIBULE_CALLS || 2000);
const concurrency = Number(process.env.VESTIBULE_CONCURRENCY || 16);
const auth = [NewAuthorizationBearerInterceptor(key)];
const transport = {
  grpc: () => createServerTransport(key, { baseUrl }),
  "grpc-web": () => createClientTransport(key, { baseUrl }),
  "connect-binary": () => createConnectTransport({ baseUrl, httpVersion: "2", interceptors: auth }),
  "connect-json": () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: auth }),
}[kind]();
const client = createSessionServiceClient(transport);
const request = { checks: { user: { search: { case: "loginName", value: login } } } };

async function run(n) {
  let next = 0;
  const worker = async () => {
    while (next++ < n) {
      const res = await client.createSession(request);
      if (!res.sessionToken) throw new Error("no token");
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

await run(Math.min(200, calls));
const start = process.hrtime.bigint();
await run(calls);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ transport: kind, calls, concurrency, seconds, perSecond: calls / seconds }));
