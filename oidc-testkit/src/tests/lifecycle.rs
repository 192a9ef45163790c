//! Starting and stopping the provider.

use std::time::Duration;

use super::http;
use crate::{TestProvider, TestUser};

#[tokio::test]
async fn start_rejects_inconsistent_configuration() {
    let kind = |result: std::io::Result<TestProvider>| result.map(|_| ()).unwrap_err().kind();
    let invalid = std::io::ErrorKind::InvalidInput;
    assert_eq!(
        kind(TestProvider::builder().auto_login("mallory").start().await),
        invalid
    );
    let no_sub = TestUser {
        username: "nosub".into(),
        claims: serde_json::Map::new(),
    };
    assert_eq!(
        kind(TestProvider::builder().users([no_sub]).start().await),
        invalid
    );
    let twice = [TestUser::alice(), TestUser::alice()];
    assert_eq!(
        kind(TestProvider::builder().users(twice).start().await),
        invalid
    );
}

async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_listener() {
    let provider = TestProvider::start().await.unwrap();
    let addr = provider.addr();
    assert_eq!(
        provider.issuer(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    // A keep-alive connection in the pool must not hold the shutdown up.
    let client = http();
    let url = format!("{}/jwks", provider.issuer());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    tokio::time::timeout(Duration::from_secs(3), provider.shutdown())
        .await
        .unwrap();
    assert!(refuses_connections(addr).await);

    let provider = TestProvider::start().await.unwrap();
    let addr = provider.addr();
    drop(provider);
    assert!(refuses_connections(addr).await);
}
