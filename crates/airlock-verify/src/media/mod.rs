//! Sneakernet media: a payload cut into volumes sized for a DVD, a Blu-ray or a FAT32
//! disk ([`size`]), each checked on its own and chained back into the payload stream
//! ([`volumes`]), and parity volumes that rebuild lost ones ([`parity`], [`repair`]).
//! See `docs/media.md`.

pub mod parity;
pub mod repair;
pub mod size;
/// The volume reader is part of the trust core (verify reads through it).
pub use airlock_core::volumes;
