//! The HTTP side the flows share, none of which knows the layer's state: cookies (the session
//! cookie and the sealed login attempt), return-to paths, the same-origin check, query
//! parsing, random tokens, redirects, and whether a request wants a page or JSON.

pub(crate) mod attempt;
pub(crate) mod cookies;
pub(crate) mod negotiate;
pub(crate) mod origin;
pub(crate) mod query;
pub(crate) mod random;
pub(crate) mod redirect;
pub(crate) mod return_to;
pub(crate) mod silent;
pub(crate) mod user_agent;

pub(crate) use redirect::redirect;
