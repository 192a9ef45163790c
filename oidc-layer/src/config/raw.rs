//! The app-wide settings as written ([`RawGlobal`]), shared by the builder, TOML and the
//! environment before the one validation; and the keys a raw struct takes, as serde reads them.

use serde::Deserialize;

use super::branding::BrandingConfig;
use super::provider::RawProvider;
use super::secret::{Secret, secret_list_or_words};
use super::{BearerPaths, RefreshFailure};
use crate::words::trimmed_list_or_words;

/// The app-wide settings as written, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGlobal {
    pub(super) external_url: Option<String>,
    pub(super) route_prefix: Option<String>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(super) public_paths: Option<Vec<String>>,
    #[serde(default, deserialize_with = "trimmed_list_or_words")]
    pub(super) api_paths: Option<Vec<String>>,
    pub(super) cookie_name: Option<String>,
    pub(super) cookie_domain: Option<String>,
    /// Read as text and checked in validation, so that a wrong value names the key.
    pub(super) cookie_same_site: Option<String>,
    pub(super) proxy_keeps_prefix: Option<bool>,
    pub(super) cookie_key: Option<Secret>,
    #[serde(default, deserialize_with = "secret_list_or_words")]
    pub(super) previous_cookie_keys: Option<Vec<Secret>>,
    pub(super) allow_insecure_http: Option<bool>,
    pub(super) clock_leeway_seconds: Option<u64>,
    pub(super) session_max_age_seconds: Option<u64>,
    pub(super) session_idle_timeout_seconds: Option<u64>,
    pub(super) session_follows_token: Option<bool>,
    pub(super) max_sessions_per_user: Option<u64>,
    pub(super) app_data_max_bytes: Option<u64>,
    pub(super) refresh_margin_seconds: Option<u64>,
    pub(super) refresh_failure: Option<RefreshFailure>,
    pub(super) expose_access_token: Option<bool>,
    pub(super) post_logout_path: Option<String>,
    pub(super) backup_login_path: Option<String>,
    pub(super) bearer_paths: Option<BearerPaths>,
    pub(super) introspection_cache_seconds: Option<u64>,
    pub(super) silent_login: Option<bool>,
    pub(super) silent_login_provider: Option<String>,
    pub(super) providers: Option<Vec<RawProvider>>,
    pub(super) branding: Option<BrandingConfig>,
}

/// The field names `T`'s derived `Deserialize` reads (what serde passes to
/// `deserialize_struct`): the keys a raw settings struct takes, derived rather than listed by
/// hand. Empty for a type that does not deserialize from a struct.
#[cfg(feature = "toml")]
pub(super) fn serde_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    /// A deserializer that only records the fields it is asked for, then stops.
    struct Fields<'a>(&'a mut &'static [&'static str]);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fields recorded")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for Fields<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}
