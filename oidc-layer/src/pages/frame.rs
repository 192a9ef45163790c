//! The frame every built-in page shares: the document, the app's name and logo above the
//! card, the help link below it, and the stylesheet made from the branding's colours.
//!
//! The stylesheet is the only style a built-in page has; the CSP names it by its SHA-256
//! ([`style_hash`]), so no other inline style (an injected one included) would apply.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::{Branding, Color};

/// What every page of one configuration shares: its branding and where the app's own files
/// are (the external URL's path prefix, for `/path` logos and links).
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub(crate) branding: Branding,
    pub(crate) base_path: String,
}

impl Frame {
    /// A configured `/path` is the app's own: behind the external URL's path prefix.
    pub(crate) fn app_url(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base_path)
        } else {
            url.to_owned()
        }
    }

    /// The stylesheet of this branding (the same text every time: its hash is in the CSP).
    pub(crate) fn stylesheet(&self) -> String {
        stylesheet(&self.branding)
    }

    /// The origin the logo is loaded from, when it is not this app or a `data:` URL.
    pub(crate) fn logo_origin(&self) -> Option<String> {
        let logo = self.branding.logo()?;
        if !logo.starts_with("http") {
            return None;
        }
        let origin = Url::parse(logo).ok()?.origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }

    /// The `<style>` element of the built-in pages (allowed by the pages' CSP).
    pub(crate) fn style_element(&self) -> Markup {
        html! { style { (PreEscaped(self.stylesheet())) } }
    }

    /// A complete, self-contained HTML document: `body` in the card, with the app's name and
    /// logo above it and its help link below.
    pub(crate) fn page(&self, title: &str, body: Markup) -> String {
        let branding = &self.branding;
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="robots" content="noindex";
                    title {
                        (title)
                        @if let Some(name) = branding.app_name() { " · " (name) }
                    }
                    (self.style_element())
                }
                body {
                    @if let Some(name) = branding.app_name() {
                        header class="brand" {
                            // The name is written next to it, so the logo itself is decorative.
                            @if let Some(logo) = branding.logo() {
                                img class="brand-logo" src=(self.app_url(logo)) alt=""
                                    width="40" height="40";
                            }
                            span class="brand-name" id="app-name" { (name) }
                        }
                    }
                    main { (body) }
                    @if let Some(url) = branding.support_url() {
                        footer class="support" {
                            a id="support" href=(self.app_url(url)) { (branding.support_label()) }
                        }
                    }
                }
            }
        }
        .into_string()
    }
}

/// The CSP source of `css` as the content of a `<style>` element: `'sha256-<base64>'`.
pub(crate) fn style_hash(css: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(css.as_bytes()))
    )
}

/// The built-in stylesheet in `branding`'s colours. Only `#rrggbb` colours are put into it
/// (see [`Color`]), so no configured value can add CSS of its own. Text colours are chosen
/// for contrast: button text is white or dark by the primary colour, links take the primary
/// colour only when it reads on white, the name and help link above and below the card
/// contrast with the background.
fn stylesheet(branding: &Branding) -> String {
    let (primary, background, text) = branding.colors();
    let on_primary = primary.readable_text();
    let link = if primary.contrast(Color::WHITE) >= 4.5 {
        primary
    } else {
        text
    };
    let on_background = background.readable_text();
    format!(
        "body{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:0 1rem;background:{background};color:{text}}}\
main{{max-width:32rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12);overflow-wrap:anywhere}}\
.brand{{max-width:36.5rem;margin:8vh auto 0;display:flex;align-items:center;gap:.75rem;color:{on_background};font-weight:600;font-size:1.2rem;overflow-wrap:anywhere}}\
.brand-logo{{width:40px;height:40px;flex:none;object-fit:contain}}\
.brand+main{{margin-top:1rem}}\
footer.support{{max-width:32rem;margin:-8vh auto 2rem;text-align:center;font-size:.95rem}}\
footer.support a{{color:{on_background}}}\
h1{{font-size:1.4rem;margin:0 0 .75rem}}p{{line-height:1.5}}\
.actions{{margin-top:1.5rem;display:flex;gap:.75rem;flex-wrap:wrap}}\
a.button,button{{font:inherit;display:inline-block;padding:.55rem 1.1rem;border-radius:8px;border:1px solid {primary};background:{primary};color:{on_primary};text-decoration:none;cursor:pointer}}\
a.secondary{{background:#fff;color:{link}}}\
a.button:focus,button:focus{{outline:3px solid #f5b400;outline-offset:2px}}\
.detail{{color:#555;font-size:.95rem}}a{{color:{link}}}\
code{{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#f0f1f3;padding:.05em .3em;border-radius:4px}}\
.providers{{list-style:none;margin:1.25rem 0 0;padding:0;display:flex;flex-direction:column;gap:.6rem}}\
a.provider{{display:flex;align-items:center;gap:.85rem;line-height:1.35;padding:.7rem 1rem;border:1px solid #c4c7c5;border-radius:8px;background:#fff;color:{text};text-decoration:none;font-weight:500}}\
a.provider:hover{{border-color:{primary};background:#f6f7f9}}\
a.provider:focus{{outline:3px solid #f5b400;outline-offset:2px}}\
.provider .logo{{width:28px;height:28px;flex:none;object-fit:contain}}\
span.logo{{display:flex;align-items:center;justify-content:center;border-radius:50%;background:#eceef1;color:{text};font-weight:600}}\
span.logo::before{{content:attr(data-initial)}}\
.backup{{margin:1.5rem 0 0;padding-top:1rem;border-top:1px solid #e3e5e8;font-size:.95rem}}\
@media (max-width:480px){{main{{margin:6vh auto;padding:1.5rem 1.25rem}}.brand{{margin-top:4vh}}}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_csp_source_of_the_exact_text() {
        // echo -n 'a{}' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            style_hash("a{}"),
            "'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk='"
        );
    }

    #[test]
    fn only_hex_colours_reach_the_stylesheet() {
        let css = Frame::default().stylesheet();
        assert!(css.contains("background:#f4f5f7;color:#1c1e21"), "{css}");
        assert!(css.contains("background:#0b57d0;color:#ffffff"), "{css}");
    }
}
