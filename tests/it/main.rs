//! End-to-end tests of the `mend` binary and its API, each storage test on SQLite and on
//! PostgreSQL. One test binary, so the workspace links once.

mod support;

mod access;
mod accounts;
mod api;
mod architecture;
mod channels;
mod cli;
mod desk;
mod email;
mod grouping;
mod identity;
mod import;
mod labels;
mod readme;
mod schedule;
mod store;
mod web;
