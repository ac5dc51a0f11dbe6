//! Writes the web UI's TypeScript declarations of the REST contract (`web/src/generated/contract.ts`)
//! from the Rust types in [`crate::rest`], and fails when the committed file differs: the web cannot
//! drift from the server. Regenerate with `SYMPHONY_UPDATE_CONTRACT=1 cargo test -p symphony-protocol`.

use std::path::Path;

use ts_rs::TS;

use crate::capability::{AllowList, Capability, CapabilityKind, CapabilitySummary};
use crate::jwt::JetStreamLimits;
use crate::messages::KeyKind;
use crate::rest::{
    AuditAction, AuditEvent, CapabilityInput, CreateKey, CreateUser, CreatedKey, ExtensionAccount,
    KeyView, LoginReply, LoginRequest, SERVER_PREFIXES, ScopedToken, ScopedTokenRequest, UpdateKey,
    UpdateUser, UserToken, UserView,
};

const HEADER: &str = "// Generated from crates/protocol/src/rest.rs by `cargo test -p symphony-protocol` — do not edit.\n\
// Regenerate: SYMPHONY_UPDATE_CONTRACT=1 cargo test -p symphony-protocol typescript\n";

fn declaration<T: TS>() -> String {
    let decl = T::decl();
    format!("export {}\n", decl.trim_end())
}

fn contract() -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for decl in [
        declaration::<KeyKind>(),
        declaration::<CapabilityKind>(),
        declaration::<Capability>(),
        declaration::<AllowList>(),
        declaration::<CapabilitySummary>(),
        declaration::<CapabilityInput>(),
        declaration::<CreateKey>(),
        declaration::<CreatedKey>(),
        declaration::<UpdateKey>(),
        declaration::<KeyView>(),
        declaration::<LoginRequest>(),
        declaration::<LoginReply>(),
        declaration::<UserToken>(),
        declaration::<ScopedTokenRequest>(),
        declaration::<ScopedToken>(),
        declaration::<UserView>(),
        declaration::<CreateUser>(),
        declaration::<UpdateUser>(),
        declaration::<AuditAction>(),
        declaration::<AuditEvent>(),
        declaration::<JetStreamLimits>(),
        declaration::<ExtensionAccount>(),
    ] {
        out.push_str(&decl);
        out.push('\n');
    }
    let prefixes: Vec<String> = SERVER_PREFIXES.iter().map(|p| format!("{p:?}")).collect();
    out.push_str("/** Paths the server answers itself: never the shell's routes (`rest::SERVER_PREFIXES`). */\n");
    out.push_str(&format!(
        "export const SERVER_PREFIXES = [{}] as const;\n",
        prefixes.join(", ")
    ));
    out
}

#[test]
fn typescript_contract_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/generated/contract.ts");
    let fresh = contract();
    if std::env::var_os("SYMPHONY_UPDATE_CONTRACT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is out of date with crates/protocol/src/rest.rs; regenerate it with \
         SYMPHONY_UPDATE_CONTRACT=1 cargo test -p symphony-protocol typescript",
        path.display()
    );
}
