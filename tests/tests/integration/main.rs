//! Every integration test in one binary (one link of the AWS SDK instead of
//! one per file), a module per area; helpers live in `tests/src/`.

mod accounts;
mod allowlists;
mod authorizer;
mod events;
mod gateway;
mod leaks;
mod local_stack;
mod management;
mod openapi;
mod org_limits;
mod orgs;
mod peppers;
mod security;
mod settings_page;
mod storage;
mod template;
