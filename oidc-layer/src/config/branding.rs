//! The app's branding on the layer's pages: [`BrandingConfig`] as written (`[branding]` in
//! TOML, `OIDC_BRANDING__*` in the environment, [`OidcConfigBuilder::branding`] in code) and
//! the validated [`Branding`].
//!
//! Every value ends up in HTML or CSS, so each is checked for what it is: colours are CSS hex
//! colours only (nothing else reaches the stylesheet), the logo and support link are https
//! URLs or same-origin paths, the texts are short and free of control characters (and
//! escaped when shown, like every value on the layer's pages).
//!
//! [`OidcConfigBuilder::branding`]: super::OidcConfigBuilder::branding

use serde::{Deserialize, Serialize};
use url::Url;

use super::provider::validate_logo;
use super::{ConfigError, is_loopback_host};

/// The branding settings as written, before validation: all optional, the defaults are the
/// layer's own look.
///
/// ```
/// use oidc_layer::{BrandingConfig, OidcConfig};
///
/// let config = OidcConfig::builder()
///     .issuer("https://id.example.com")
///     .client_id("app")
///     .external_url("https://app.example.com")
///     .branding(
///         BrandingConfig::new()
///             .app_name("Acme Portal")
///             .logo("/static/acme.svg")
///             .primary_color("#7b1fa2"),
///     )
///     .build()
///     .expect("valid");
/// assert_eq!(config.branding().app_name(), Some("Acme Portal"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingConfig {
    /// The app's name: shown above every page's heading and in its title.
    pub app_name: Option<String>,
    /// The app's logo next to its name: an https URL, a `/path` on this app, or a
    /// `data:image/...` URL under 64 KB. Needs `app_name` (the name is the logo's text).
    pub logo: Option<String>,
    /// Buttons, links and highlights (`#rgb` or `#rrggbb`; default `#0b57d0`).
    pub primary_color: Option<String>,
    /// The page behind the card (default `#f4f5f7`).
    pub background_color: Option<String>,
    /// Text on the card (default `#1c1e21`); must be readable on white (contrast 4.5:1).
    pub text_color: Option<String>,
    /// A help link at the foot of every page: an https URL or a `/path` on this app.
    pub support_url: Option<String>,
    /// The help link's text (default "Get help").
    pub support_label: Option<String>,
}

impl BrandingConfig {
    /// No branding set (the layer's own look).
    pub fn new() -> Self {
        Self::default()
    }
    /// The app's name, shown above every page's heading and in its title.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = Some(name.into());
        self
    }
    /// The app's logo: an https URL, a `/path`, or a `data:image/...` URL under 64 KB.
    pub fn logo(mut self, logo: impl Into<String>) -> Self {
        self.logo = Some(logo.into());
        self
    }
    /// The colour of buttons and links (`#rgb` or `#rrggbb`).
    pub fn primary_color(mut self, color: impl Into<String>) -> Self {
        self.primary_color = Some(color.into());
        self
    }
    /// The page's background colour (`#rgb` or `#rrggbb`).
    pub fn background_color(mut self, color: impl Into<String>) -> Self {
        self.background_color = Some(color.into());
        self
    }
    /// The text colour on the page's card (`#rgb` or `#rrggbb`, readable on white).
    pub fn text_color(mut self, color: impl Into<String>) -> Self {
        self.text_color = Some(color.into());
        self
    }
    /// A help link at the foot of every page (an https URL or a `/path`).
    pub fn support_url(mut self, url: impl Into<String>) -> Self {
        self.support_url = Some(url.into());
        self
    }
    /// The help link's text (default "Get help").
    pub fn support_label(mut self, label: impl Into<String>) -> Self {
        self.support_label = Some(label.into());
        self
    }

    /// Validates the settings; errors name the key as `branding.<key>`.
    pub(super) fn validate(self) -> Result<Branding, ConfigError> {
        let key = |k: &str| format!("branding.{k}");
        let app_name = text(&key("app_name"), self.app_name, 80)?;
        let logo = match self.logo {
            Some(logo) => {
                let logo = logo.trim().to_owned();
                validate_logo(&key("logo"), &logo)?;
                if app_name.is_none() {
                    return Err(ConfigError::new(
                        &key("logo"),
                        "needs `branding.app_name` too: the name is the logo's text for people who do not see it",
                    ));
                }
                Some(logo)
            }
            None => None,
        };
        let color = |k: &str, value: Option<String>, default: Color| match value {
            Some(v) => Color::parse(v.trim()).ok_or_else(|| {
                ConfigError::new(
                    &key(k),
                    format!("`{v}` is not a CSS hex colour (`#rgb` or `#rrggbb`)"),
                )
            }),
            None => Ok(default),
        };
        let defaults = Branding::default();
        let primary = color("primary_color", self.primary_color, defaults.primary)?;
        let background = color(
            "background_color",
            self.background_color,
            defaults.background,
        )?;
        let text_color = color("text_color", self.text_color, defaults.text)?;
        let on_white = text_color.contrast(Color::WHITE);
        if on_white < MIN_TEXT_CONTRAST {
            return Err(ConfigError::new(
                &key("text_color"),
                format!(
                    "contrast with the white page card is {on_white:.1}:1, below the {MIN_TEXT_CONTRAST}:1 readable text needs"
                ),
            ));
        }
        let support_url = match self.support_url {
            Some(url) => Some(support_url(&key("support_url"), url.trim())?),
            None => None,
        };
        let support_label = text(&key("support_label"), self.support_label, 60)?;
        if support_label.is_some() && support_url.is_none() {
            return Err(ConfigError::new(
                &key("support_label"),
                "needs `branding.support_url` (the link it labels)",
            ));
        }
        Ok(Branding {
            app_name,
            logo,
            primary,
            background,
            text: text_color,
            support_url,
            support_label,
        })
    }
}

/// WCAG 2 AA contrast for normal text.
const MIN_TEXT_CONTRAST: f64 = 4.5;

/// A short text shown on pages: trimmed, 1 to `max` characters, no control characters.
fn text(key: &str, value: Option<String>, max: usize) -> Result<Option<String>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ConfigError::new(
            key,
            format!("must be 1 to {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ConfigError::new(key, "must not contain control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// An https URL (http on loopback, for development) or a same-origin `/path`.
fn support_url(key: &str, url: &str) -> Result<String, ConfigError> {
    if url.starts_with('/') && !url.starts_with("//") && !url.contains('\\') {
        return Ok(url.to_owned());
    }
    match Url::parse(url) {
        Ok(parsed)
            if parsed.scheme() == "https"
                || (parsed.scheme() == "http" && is_loopback_host(&parsed)) =>
        {
            Ok(url.to_owned())
        }
        _ => Err(ConfigError::new(key, "must be an https URL or a /path")),
    }
}

/// A colour as `#rrggbb` (what the stylesheet gets: nothing but six hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Color([u8; 3]);

impl Color {
    pub(crate) const WHITE: Color = Color([0xff, 0xff, 0xff]);
    /// The layer's dark text colour (`#1c1e21`).
    pub(crate) const INK: Color = Color([0x1c, 0x1e, 0x21]);

    /// `#rgb` or `#rrggbb` (hex digits in either case), nothing else.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let hex = value.strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok();
        match hex.len() {
            3 => Some(Self([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17])),
            6 => Some(Self([
                u8::from_str_radix(&hex[0..2], 16).ok()?,
                u8::from_str_radix(&hex[2..4], 16).ok()?,
                u8::from_str_radix(&hex[4..6], 16).ok()?,
            ])),
            _ => None,
        }
    }

    /// WCAG 2 relative luminance.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// WCAG 2 contrast ratio (1 to 21).
    pub(crate) fn contrast(self, other: Color) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (light, dark) = if a > b { (a, b) } else { (b, a) };
        (light + 0.05) / (dark + 0.05)
    }

    /// White or the layer's dark ink, whichever reads better on this colour.
    pub(crate) fn readable_text(self) -> Color {
        if Self::WHITE.contrast(self) >= Self::INK.contrast(self) {
            Self::WHITE
        } else {
            Self::INK
        }
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// The validated branding of the layer's pages ([`OidcConfig::branding`](super::OidcConfig::branding)).
#[derive(Debug, Clone, PartialEq)]
pub struct Branding {
    app_name: Option<String>,
    logo: Option<String>,
    primary: Color,
    background: Color,
    text: Color,
    support_url: Option<String>,
    support_label: Option<String>,
}

impl Default for Branding {
    /// The layer's own look: no name, no logo, blue on light grey.
    fn default() -> Self {
        Self {
            app_name: None,
            logo: None,
            primary: Color([0x0b, 0x57, 0xd0]),
            background: Color([0xf4, 0xf5, 0xf7]),
            text: Color::INK,
            support_url: None,
            support_label: None,
        }
    }
}

impl Branding {
    /// The app's name, if set.
    pub fn app_name(&self) -> Option<&str> {
        self.app_name.as_deref()
    }
    /// The logo as configured (a `/path` is relative to the external URL's path prefix).
    pub fn logo(&self) -> Option<&str> {
        self.logo.as_deref()
    }
    /// The primary colour as `#rrggbb`.
    pub fn primary_color(&self) -> String {
        self.primary.to_string()
    }
    /// The background colour as `#rrggbb`.
    pub fn background_color(&self) -> String {
        self.background.to_string()
    }
    /// The text colour as `#rrggbb`.
    pub fn text_color(&self) -> String {
        self.text.to_string()
    }
    /// The help link, if set (a `/path` is relative to the external URL's path prefix).
    pub fn support_url(&self) -> Option<&str> {
        self.support_url.as_deref()
    }
    /// The help link's text.
    pub fn support_label(&self) -> &str {
        self.support_label.as_deref().unwrap_or("Get help")
    }
    pub(crate) fn colors(&self) -> (Color, Color, Color) {
        (self.primary, self.background, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_only() {
        assert_eq!(Color::parse("#0B57d0").unwrap().to_string(), "#0b57d0");
        assert_eq!(Color::parse("#abc").unwrap().to_string(), "#aabbcc");
        for bad in [
            "",
            "#",
            "0b57d0",
            "#0b57d",
            "#0b57d0f",
            "#0b57d0ff",
            "red",
            "#ggg",
            "#fff;}",
            "#fff}body{",
            "rgb(0,0,0)",
            "#+1f",
            "#１２３",
        ] {
            assert!(Color::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        let black = Color::parse("#000").unwrap();
        assert!((Color::WHITE.contrast(black) - 21.0).abs() < 1e-9);
        assert!((black.contrast(black) - 1.0).abs() < 1e-9);
        assert_eq!(Color::parse("#ffeb3b").unwrap().readable_text(), Color::INK);
        assert_eq!(
            Color::parse("#0b57d0").unwrap().readable_text(),
            Color::WHITE
        );
    }

    fn with(branding: BrandingConfig) -> Result<super::super::OidcConfig, ConfigError> {
        super::super::test_base().branding(branding).build()
    }

    fn key_of(branding: BrandingConfig) -> String {
        with(branding).expect_err("refused").key
    }

    #[test]
    fn every_setting_is_checked_and_errors_name_the_key() {
        let ok = with(
            BrandingConfig::new()
                .app_name("  Acme  ")
                .logo("data:image/png;base64,iVBORw0KGgo=")
                .primary_color("#ABC")
                .support_url("https://help.acme.example/it"),
        )
        .unwrap();
        let b = ok.branding();
        assert_eq!(b.app_name(), Some("Acme"));
        assert_eq!(b.primary_color(), "#aabbcc");
        assert_eq!(b.background_color(), "#f4f5f7");
        assert_eq!(b.support_label(), "Get help");
        for bad in [
            "red",
            "#12",
            "#fff; background:url(x)",
            "#fff}body{x:y",
            "expression(1)",
        ] {
            let key = key_of(BrandingConfig::new().primary_color(bad));
            assert_eq!(key, "branding.primary_color", "{bad}");
            assert_eq!(
                key_of(BrandingConfig::new().background_color(bad)),
                "branding.background_color"
            );
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://cdn.example.com/l.png",
            "//evil.example/l.png",
            "ftp://x/l.png",
        ] {
            let key = key_of(BrandingConfig::new().app_name("A").logo(bad));
            assert_eq!(key, "branding.logo", "{bad}");
        }
        // The logo's alt text is the name: a logo alone is refused.
        assert_eq!(
            key_of(BrandingConfig::new().logo("/l.png")),
            "branding.logo"
        );
        for bad in [
            "javascript:alert(1)",
            "//evil.example",
            "http://help.example.com",
            "x",
        ] {
            let key = key_of(BrandingConfig::new().support_url(bad));
            assert_eq!(key, "branding.support_url", "{bad}");
        }
        assert_eq!(
            key_of(BrandingConfig::new().support_label("Help")),
            "branding.support_label"
        );
        assert_eq!(
            key_of(BrandingConfig::new().app_name("   ")),
            "branding.app_name"
        );
        assert_eq!(
            key_of(BrandingConfig::new().app_name("a\u{7}b")),
            "branding.app_name"
        );
        assert_eq!(
            key_of(BrandingConfig::new().app_name("x".repeat(81))),
            "branding.app_name"
        );
        // Light grey text on the white card is unreadable.
        let err = with(BrandingConfig::new().text_color("#bbbbbb")).unwrap_err();
        assert_eq!(err.key, "branding.text_color");
        assert!(err.reason.contains("contrast"), "{}", err.reason);
        assert!(with(BrandingConfig::new().text_color("#595959")).is_ok());
    }

    #[cfg(feature = "toml")]
    #[test]
    fn toml_and_environment_give_the_same_branding() {
        use super::super::OidcConfig;
        let toml = OidcConfig::from_toml_str(
            r##"
            issuer = "https://id.example.com"
            client_id = "app"
            external_url = "https://app.example.com"

            [branding]
            app_name = "Acme"
            logo = "/static/acme.svg"
            primary_color = "#7b1fa2"
            support_url = "/help"
            "##,
        )
        .unwrap();
        let vars = [
            ("OIDC_ISSUER", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_EXTERNAL_URL", "https://app.example.com"),
            ("OIDC_BRANDING__APP_NAME", "Acme"),
            ("OIDC_BRANDING__LOGO", "/static/acme.svg"),
            ("OIDC_BRANDING__PRIMARY_COLOR", "#7b1fa2"),
            ("OIDC_BRANDING__SUPPORT_URL", "/help"),
        ];
        let env = OidcConfig::from_vars(
            "OIDC_",
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(toml.branding(), env.branding());
        assert_eq!(env.branding().logo(), Some("/static/acme.svg"));
        let bad = OidcConfig::from_toml_str(
            r##"
            issuer = "https://id.example.com"
            client_id = "app"
            external_url = "https://app.example.com"
            branding = { text_color = "#eee" }
            "##,
        )
        .unwrap_err();
        assert_eq!(bad.key, "branding.text_color");
        let unknown = OidcConfig::from_toml_str(
            r##"
            issuer = "https://id.example.com"
            client_id = "app"
            external_url = "https://app.example.com"
            branding = { font = "Comic Sans" }
            "##,
        )
        .unwrap_err();
        assert!(unknown.reason.contains("font"), "{}", unknown.reason);
    }
}
