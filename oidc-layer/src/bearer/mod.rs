//! Access tokens from API clients (issue #15). Minimal module on the `h-dpop` branch so the
//! introspection (and later DPoP) module compiles; helper "bearer" owns this file and wires
//! them in.

#[allow(dead_code)] // called from the bearer flow (branch h-bearer)
pub(crate) mod introspect;
