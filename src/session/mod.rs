//! The engines that sequence everything else: `mmm improve` (and, later, `mmm run`).
//! This is the one module that talks to the analyzer, the model, the tools, the checks,
//! git and the state; none of those know of each other.

pub mod prompts;
pub mod review;
pub mod stop;
