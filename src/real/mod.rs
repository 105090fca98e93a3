//! Real files and real locks: the conflict reproduced on this machine's file
//! system.
//!
//! What lives here: the scaled wall clock of a real run ([`ScaledClock`]).
//! What does not: the volume backend (`volume/os.rs`).

mod clock;

pub use clock::ScaledClock;
