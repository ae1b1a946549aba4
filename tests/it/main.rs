//! One integration-test binary for mmm, a module per area. Each test runs the real binary
//! in a temporary directory with a clean environment (see `common`).

mod common;

mod analyze;
mod cache;
mod ci;
mod cli;
mod command_tools;
mod config;
mod docs;
mod engine;
mod events;
mod git_processes;
mod hardening;
mod honest;
mod hooks;
mod improve;
mod index;
mod init;
mod llm;
mod man;
mod models;
mod openai;
mod output;
mod parallel;
mod plugins;
mod recovery;
mod retries;
mod rules;
mod run;
mod sandbox;
mod secrets;
mod undo;
mod workflow;
