//! Replays the saved fuzz corpora (`fuzz/corpus/<target>`, minimised with `cargo fuzz cmin`)
//! through the fuzz targets' entry points, without a sanitizer: every input the fuzzer kept, and
//! every crash it ever found (saved there as a regression), must pass the target's checks.
//! Long fuzzing runs are `scripts/fuzz.sh`; this keeps what they learned in the test suite.

use std::path::Path;

use oidc_layer::fuzzing;

// The fixture of the targets that check tokens (`oidc-testkit`'s provider and a layer configured
// for it): the fuzz crate's own, so that both run the targets the same way.
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_fixture;
use fuzz_fixture::fixture;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    assert!(!entries.is_empty(), "the corpus of {target} is empty");
    for entry in entries {
        let path = entry.path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Shown when the target panics: the input that broke it.
        eprintln!("{}", path.display());
        run(&data);
    }
}

#[test]
fn session_cookie() {
    replay("session_cookie", fuzzing::session_cookie);
}

#[test]
fn attempt_cookie() {
    replay("attempt_cookie", |data| {
        fuzzing::attempt_cookie(fixture(), data)
    });
}

#[test]
fn callback_query() {
    replay("callback_query", |data| {
        fuzzing::callback_query(fixture(), data)
    });
}

#[test]
fn return_to() {
    replay("return_to", fuzzing::return_to);
}

#[test]
fn id_token() {
    replay("id_token", |data| fuzzing::id_token(fixture(), data));
}

#[test]
fn logout_token() {
    replay("logout_token", |data| {
        fuzzing::logout_token(fixture(), data)
    });
}

#[test]
fn token_response() {
    replay("token_response", |data| {
        fuzzing::token_response(fixture(), data)
    });
}

#[test]
fn roles() {
    replay("roles", fuzzing::roles);
}

#[test]
fn config() {
    replay("config", fuzzing::config);
}

#[test]
fn session_record() {
    replay("session_record", fuzzing::session_record);
}
