//! One module per command: its flags (`Args`) and `run`.

pub mod capture;
pub mod cert;
pub mod demo;
pub mod flows;
pub mod follow;
pub mod get;
pub mod inspect;
pub mod report;
pub mod serve;
