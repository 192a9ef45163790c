//! What the fuzz targets share: the [`Fixture`] of the targets that check tokens, against
//! `oidc-testkit`'s in-process provider (`oidc-layer/tests/fuzz_corpus.rs` includes this file to
//! replay the corpora the same way).

use std::sync::OnceLock;

use oidc_layer::fuzzing::{Fixture, FuzzProvider};
use oidc_testkit::TestProvider;

/// The provider and a layer configured for it, made once per process.
pub fn fixture() -> &'static Fixture {
    // The provider is kept with the fixture: the layer refetches the key set from it when a
    // token names an unknown key.
    static FIXTURE: OnceLock<(TestProvider, Fixture)> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| match start() {
            Ok(both) => both,
            // Without the fixture no input can be tested: stop the run rather than pass everything.
            Err(e) => panic!("fuzz fixture: {e}"),
        })
        .1
}

fn start() -> Result<(TestProvider, Fixture), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let provider = runtime
        .block_on(TestProvider::start())
        .map_err(|e| e.to_string())?;
    let fixture = Fixture::new(
        runtime,
        FuzzProvider {
            issuer: provider.issuer().to_owned(),
            client_id: provider.client_id().to_owned(),
            client_secret: provider.client_secret().to_owned(),
            sign: oidc_testkit::sign_jws,
        },
    )?;
    Ok((provider, fixture))
}
