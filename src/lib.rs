//! mmm improves a code base in verified steps: Claude proposes and makes changes through
//! tools mmm executes inside the repository, mmm runs the project's own checks, and only
//! changes that pass are kept. See `ARCHITECTURE.md` in the shared design notes and
//! `CONTRIBUTING.md` for how the modules fit together.
//!
//! The binary (`src/main.rs`) only parses arguments, calls [`run`] and maps the error to
//! an exit code; everything else lives in this library so tests can reach it.

pub mod agent;
pub mod alerts;
pub mod analyzer;
pub mod blocking;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod error;
pub mod exec;
pub mod git;
pub mod hooks;
pub mod index;
pub mod llm;
pub mod logging;
pub mod plugins;
pub mod printer;
pub mod redact;
pub mod report;
pub mod sandbox;
pub mod secrets;
pub mod session;
pub mod settings;
pub mod spec;
pub mod state;
pub mod tools;
pub mod workflow;

pub use error::{CliError, Exit};
