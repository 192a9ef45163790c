//! The layer's own routes and what the app starts from its handlers, one module per flow:
//! [`login`], [`callback`], [`logout`], [`backchannel`] logout, [`link`]ing and [`local`]
//! sign-in. Flows never import each other: what two of them share is in [`common`] (login
//! URLs, the provider-failure page) and [`authorize`] (the redirect to a provider that starts
//! every login and link).

pub(crate) mod authorize;
pub(crate) mod backchannel;
pub(crate) mod callback;
pub(crate) mod common;
pub(crate) mod link;
pub(crate) mod local;
pub(crate) mod login;
pub(crate) mod logout;
