//! The command-line programs: fvs-ofctl and friends, each a thin main over a library run().
pub mod demo;
pub mod ofctl;
