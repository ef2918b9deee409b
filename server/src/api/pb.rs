//! Rust types generated at build time from ZITADEL's published protobuf descriptors
//! (`server/build.rs`): the Session API's messages and tonic service traits, and the error
//! details of `zitadel/message.proto`.
#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

pub mod zitadel {
    pub mod v1 {
        tonic::include_proto!("zitadel.v1");
    }
    pub mod object {
        pub mod v2 {
            tonic::include_proto!("zitadel.object.v2");
        }
        pub mod v2beta {
            tonic::include_proto!("zitadel.object.v2beta");
        }
    }
    pub mod session {
        pub mod v2 {
            tonic::include_proto!("zitadel.session.v2");
        }
        pub mod v2beta {
            tonic::include_proto!("zitadel.session.v2beta");
        }
    }
}

/// `google.rpc.Status` (google/rpc/status.proto), the message gRPC servers put in
/// `grpc-status-details-bin`. Not among ZITADEL's descriptors, so declared here with prost's
/// derive (prost does the encoding).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}
