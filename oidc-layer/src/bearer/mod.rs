//! Access tokens from API clients (issue #15). Minimal module on the `h-dpop` branch so the
//! DPoP and introspection modules compile; helper "bearer" owns this file and wires them in.

#[allow(dead_code)] // called from the bearer flow (branch h-bearer)
pub(crate) mod dpop;
#[allow(dead_code)] // called from the bearer flow (branch h-bearer)
pub(crate) mod introspect;
