//! The one integration-test binary: the real app over HTTP against a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod helpers;
mod matrix;

mod api;
mod api_edges;
mod audit;
mod audit_labels;
mod auth;
mod cli;
mod console;
mod contract;
mod input_rules;
mod methods;
mod migrations;
mod ops;
mod plans;
mod submission;
mod support;
mod tokens;
mod ui;
mod ux;
