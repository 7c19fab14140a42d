//! The token format and its crypto: `cog_` tokens (`format`), the bearer
//! header (`bearer`), peppered HMAC hashing (`hash`). The lowest layer: it
//! imports nothing of the crate.

pub mod bearer;
pub mod format;
pub mod hash;

pub use format::*;
