//! Generates the Session API's protobuf messages and tonic services from ZITADEL's published
//! descriptors (`proto/zitadel_session.binpb`, written by `scripts/connect-client/dump-protos.mjs`
//! from the npm package `@zitadel/proto`). No `protoc` runs: the descriptors are already compiled.

use prost::Message as _;

fn main() -> std::io::Result<()> {
    let path = "proto/zitadel_session.binpb";
    println!("cargo:rerun-if-changed={path}");
    let bytes = std::fs::read(path)?;
    let mut set = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    // Only ZITADEL's own messages become Rust code; the well-known types (kept, since the
    // generator resolves them) map to prost-types. The annotation packages (google.api, validate,
    // openapiv2, ZITADEL's option extensions) only carry options, which code does not need.
    set.file.retain(|f| {
        let package = f.package();
        package == "google.protobuf"
            || (package.starts_with("zitadel.")
                && !package.starts_with("zitadel.protoc_gen_zitadel"))
    });
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        .compile_fds(set)
}
