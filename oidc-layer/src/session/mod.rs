//! A session's life on top of the store: finding the request's session ([`current`]),
//! creating one at sign-in ([`create`]), and keeping it up to date on the request path
//! ([`refresh`]). The record itself and its lifetime rules are in `crate::record`.

pub(crate) mod create;
pub(crate) mod current;
pub(crate) mod manage;
pub(crate) mod refresh;
