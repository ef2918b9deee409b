// Writes ZITADEL's published definitions of the Session API (zitadel.session.v2 and v2beta, with
// every file they import) from the file descriptors inside the npm package @zitadel/proto into
// server/proto/zitadel_session.binpb, a serialized google.protobuf.FileDescriptorSet.
// server/build.rs generates the Rust messages and the tonic services from that file, so names,
// field numbers and types are ZITADEL's by construction, with no .proto re-typed by hand.
//
//   cd scripts/connect-client && npm ci && node dump-protos.mjs
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_zitadel_session_v2_session_service } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { file_zitadel_session_v2beta_session_service } from "@zitadel/proto/zitadel/session/v2beta/session_service_pb.js";
import { file_zitadel_message } from "@zitadel/proto/zitadel/message_pb.js";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "../../server/proto/zitadel_session.binpb");

// Dependencies first (a FileDescriptorSet is read in order by some tools), each file once.
const seen = new Map();
function visit(file) {
  if (seen.has(file.name)) return;
  for (const dep of file.dependencies) visit(dep);
  seen.set(file.name, file);
}
// zitadel/message.proto holds ErrorDetail and CredentialsCheckError, the error details.
for (const f of [file_zitadel_message, file_zitadel_session_v2_session_service, file_zitadel_session_v2beta_session_service]) {
  visit(f);
}

const files = [...seen.values()].map((f) => f.proto);
// Source positions and comments are not needed to generate code; dropping them keeps the
// checked-in file small and stable.
const set = create(FileDescriptorSetSchema, {
  file: files.map((p) => ({ ...p, sourceCodeInfo: undefined })),
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, toBinary(FileDescriptorSetSchema, set));
console.log(`wrote ${out}: ${files.length} files`);
for (const f of files) console.log(`  ${f.name}`);
