//! The token format and its crypto: `cog_` tokens (`format`), the bearer
//! header (`bearer`), peppered HMAC hashing (`hash`), a secret sealed under
//! a pepper for a short stay in storage (`seal`). The lowest layer: it
//! imports nothing of the crate.

pub mod bearer;
pub mod format;
pub mod hash;
pub mod seal;

pub use format::*;
