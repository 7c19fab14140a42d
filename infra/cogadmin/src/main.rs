//! `cogadmin`: the operator CLI. Works against the local stack or real AWS
//! through the standard AWS environment (`AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL_*`), plus `TABLE_NAME` and, for peppers, `PEPPER_KEY_ID`.
//! It never prints a secret: peppers appear as versions, tokens as ids.
//! Every command that changes state has `--dry-run`; `--json` prints one
//! JSON object a line; the exit code says the failure class (`exit`).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI talks on stdout and stderr

mod commands;
mod exit;
mod identity;
mod output;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::management::lifecycle::Selection;
use cog_tokens::records::audit::AuditScope;
use cog_tokens::records::{OrgMembership, Owner, PrincipalStatus, StatusFilter, Timestamp, UserId};
use cog_tokens::{PepperVersion, TokenId};

use crate::commands::Operator;
use crate::exit::{classify, fail, Failure, EXIT_CODES_HELP};
use crate::output::Output;

#[derive(Parser, Debug)]
#[command(
    name = "cogadmin",
    version,
    about = "Operate the cog_ token system",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    /// DynamoDB table
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    /// Who runs the command, for the audit trail. Against AWS the caller's
    /// STS identity is recorded (with this name when given); against a local
    /// endpoint this name, else the login name
    #[arg(long, env = "COGADMIN_ACTOR", global = true)]
    actor: Option<String>,
    /// Print one JSON object a line (the default when stdout is not a terminal)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the table if it is missing and pepper v1 if there is none
    /// (idempotent). A missing table is created only on a local endpoint
    /// unless --allow-aws
    Init(InitArgs),
    /// Human user accounts
    #[command(subcommand)]
    Account(AccountCommand),
    /// Service users (non-human principals with one role in one org)
    #[command(subcommand, name = "service-user")]
    ServiceUser(ServiceUserCommand),
    /// The pepper ring
    #[command(subcommand)]
    Pepper(PepperCommand),
    /// Tokens: list, show, revoke one or many
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print an owner's or an org's audit trail, newest first
    Audit(AuditArgs),
    /// After a point-in-time restore: take away in the restored table
    /// (--table) every access the source table no longer grants
    #[command(name = "restore-reconcile")]
    RestoreReconcile(ReconcileArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Create a missing table even though the DynamoDB endpoint is not local
    /// (real AWS). The deployed table is the stack's: this is for a scratch account
    #[arg(long)]
    allow_aws: bool,
    /// Say what would be created; create nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct ReconcileArgs {
    /// The table the restore was made from (it holds every change since the restore point)
    #[arg(long)]
    from_table: String,
    /// The time the restore was made as of (RFC 3339): the source's audit
    /// trail from then on is read too, so a revocation it records is
    /// re-applied even when the token's item in the source is gone or damaged
    #[arg(long, value_parser = parse_rfc3339)]
    restore_point: Timestamp,
    /// Re-apply only source revocations made before this time (RFC 3339):
    /// when those revocations were the damage the restore undoes
    #[arg(long, value_parser = parse_rfc3339)]
    until: Option<Timestamp>,
    /// Leave tokens absent from the source alone (the damage deleted items);
    /// by default they are revoked
    #[arg(long)]
    keep_absent: bool,
    /// Count what would change; change nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// A user's trail (`alice`) or a service user's (`service_user:svc_…`)
    #[arg(long, conflicts_with = "org", required_unless_present = "org")]
    owner: Option<String>,
    /// The changes an org's admins made in it
    #[arg(long)]
    org: Option<String>,
    /// Only the events about this token (with --owner: its owner's trail)
    #[arg(long, value_parser = parse_token_id, requires = "owner")]
    token: Option<TokenId>,
    /// Only events at or after this time (RFC 3339)
    #[arg(long, value_parser = parse_rfc3339)]
    since: Option<Timestamp>,
    /// Most events to print
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Args, Debug)]
struct KeyArgs {
    /// KMS key (id, ARN or alias) that protects the peppers
    #[arg(long, env = "PEPPER_KEY_ID")]
    key_id: String,
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create or replace an account record
    Put {
        #[arg(value_parser = parse_user_id)]
        user_id: UserId,
        #[arg(long, default_value = "active", value_parser = parse_status)]
        status: PrincipalStatus,
        /// The account signs in through SSO/enterprise (PATs refused)
        #[arg(long)]
        sso: bool,
        /// The PAT closed-beta flag is on
        #[arg(long)]
        beta: bool,
        /// An org membership, ORG:ROLE; repeat for several
        #[arg(long = "org", value_parser = parse_membership)]
        orgs: Vec<OrgMembership>,
        /// Show the record as it is and as it would be; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Show an account record
    Get { user_id: String },
}

#[derive(Subcommand, Debug)]
enum ServiceUserCommand {
    /// Create a service user (refuses an existing id)
    Create {
        id: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Show a service user
    Get { id: String },
}

#[derive(Subcommand, Debug)]
enum PepperCommand {
    /// Add a new pepper version; tokens hashed under older ones keep working
    Rotate {
        #[command(flatten)]
        key: KeyArgs,
        /// Say which version would be added; add nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// List versions (never the keys)
    List,
    /// Retire a version once no live token uses it (`token revoke
    /// --pepper-version` takes its tokens off it first)
    Retire {
        version: u32,
        /// Check and count the live tokens on it; retire nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// List one owner's tokens, newest first (metadata only)
    List {
        /// The owner's id
        #[arg(long)]
        owner: String,
        /// The owner is a service user rather than a human user
        #[arg(long)]
        service_user: bool,
        /// active, expired, revoked or all
        #[arg(long, default_value = "all", value_parser = parse_status_filter)]
        status: StatusFilter,
    },
    /// Show one token's metadata: owner, status, last use, revocation (never a secret)
    Show {
        #[arg(value_parser = parse_token_id)]
        id: TokenId,
    },
    /// Revoke one token, or every active token a selection matches: a
    /// pepper version, an org, an issue window, an owner
    Revoke(RevokeArgs),
    /// Revoke every token of one owner (as `token revoke --owner`)
    RevokeAll {
        /// The owner's id
        #[arg(long)]
        owner: String,
        /// The owner is a service user rather than a human user
        #[arg(long)]
        service_user: bool,
        #[arg(long, default_value = "operator revoke-all")]
        reason: String,
        /// Count the tokens it would revoke; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Put every active token made before idle expiry into the idle index,
    /// so the expiry sweep can revoke it when unused (once, after upgrading)
    IdleBackfill {
        /// Count the active tokens (at most that many would join); change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Place the usage-plan key of every active rate-limited token that has
    /// none (once, after turning REST usage plans on; docs/deploy.md)
    UsagePlanBackfill {
        /// The REST stage the plans cover, as the sync's USAGE_PLAN_STAGES (repeatable)
        #[arg(long = "stage", value_name = "REST_API_ID/STAGE", required = true)]
        stages: Vec<String>,
        /// What the stack's keys and plans are named with (its name)
        #[arg(long)]
        prefix: String,
        /// Count the tokens without a placed key; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
struct RevokeArgs {
    /// One token, by its public id (16 characters after `cog_`)
    #[arg(long, value_parser = parse_token_id)]
    id: Option<TokenId>,
    /// Every active token still hashed under this pepper version
    #[arg(long)]
    pepper_version: Option<u32>,
    /// With --pepper-version: allow the current version (revokes nearly everything)
    #[arg(long)]
    force: bool,
    /// Every key of the org's service users, and every PAT limited to this org alone
    #[arg(long)]
    org: Option<String>,
    /// Every active token created after this time (RFC 3339, exclusive)
    #[arg(long, value_parser = parse_rfc3339)]
    issued_after: Option<Timestamp>,
    /// Every active token created before this time (RFC 3339, exclusive)
    #[arg(long, value_parser = parse_rfc3339)]
    issued_before: Option<Timestamp>,
    /// Every token of one owner
    #[arg(long)]
    owner: Option<String>,
    /// With --owner: the owner is a service user
    #[arg(long, requires = "owner")]
    service_user: bool,
    /// Recorded on each token and in each audit event
    #[arg(long, default_value = "operator revocation")]
    reason: String,
    /// Count what would be revoked; change nothing
    #[arg(long)]
    dry_run: bool,
}

/// What `token revoke` was asked to revoke.
#[derive(Debug)]
enum RevokeTarget {
    One(TokenId),
    Owner(Owner),
    Many(Selection),
}

impl RevokeArgs {
    /// Exactly one selector (both window ends count as one).
    fn target(&self) -> Result<RevokeTarget> {
        let window = self.issued_after.is_some() || self.issued_before.is_some();
        let given = [
            self.id.is_some(),
            self.pepper_version.is_some(),
            self.org.is_some(),
            window,
            self.owner.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(fail(
                Failure::Usage,
                "pass exactly one of --id, --pepper-version, --org, \
                 --issued-after/--issued-before, --owner",
            ));
        }
        if self.force && self.pepper_version.is_none() {
            return Err(fail(
                Failure::Usage,
                "--force only applies to --pepper-version",
            ));
        }
        if let (Some(after), Some(before)) = (self.issued_after, self.issued_before) {
            if after >= before {
                return Err(fail(
                    Failure::Usage,
                    "--issued-after must be before --issued-before",
                ));
            }
        }
        Ok(if let Some(id) = self.id {
            RevokeTarget::One(id)
        } else if let Some(owner) = &self.owner {
            RevokeTarget::Owner(owner_of(owner, self.service_user))
        } else if let Some(version) = self.pepper_version {
            RevokeTarget::Many(Selection::PepperVersion(PepperVersion(version)))
        } else if let Some(org) = &self.org {
            RevokeTarget::Many(Selection::Org(org.clone()))
        } else {
            RevokeTarget::Many(Selection::IssuedBetween {
                after: self.issued_after,
                before: self.issued_before,
            })
        })
    }
}

fn owner_of(id: &str, service_user: bool) -> Owner {
    if service_user {
        Owner::service_user(id)
    } else {
        Owner::user(id)
    }
}

fn parse_token_id(text: &str) -> Result<TokenId, String> {
    let id = text.strip_prefix("cog_").unwrap_or(text);
    // A whole token pasted by mistake: take its id, never echo its secret.
    let id = id.get(..16).filter(|_| id.len() == 54).unwrap_or(id);
    id.parse()
        .map_err(|_| "expected a token id: 16 base62 characters".to_owned())
}

/// An RFC 3339 date-time (`2026-12-03T17:00:00Z`, `…T18:00:00.5+01:00`) as
/// milliseconds since the epoch.
fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        format!(
            "`{}`: expected RFC 3339, e.g. 2026-12-03T17:00:00Z",
            text.escape_debug()
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map(Timestamp)
        .map_err(|_| "out of range".to_owned())
}

fn parse_user_id(text: &str) -> Result<UserId, String> {
    UserId::parse(text).map_err(|e| format!("`{}`: {e}", text.escape_debug()))
}

fn parse_status(text: &str) -> Result<PrincipalStatus, String> {
    text.parse()
        .map_err(|_| format!("`{text}`: expected active, suspended or deleted"))
}

fn parse_status_filter(text: &str) -> Result<StatusFilter, String> {
    text.parse()
        .map_err(|_| format!("`{text}`: expected active, expired, revoked or all"))
}

fn parse_membership(text: &str) -> Result<OrgMembership, String> {
    match text.split_once(':') {
        Some((org, role)) if !org.is_empty() && !role.is_empty() && !role.contains(':') => {
            Ok(OrgMembership {
                org_id: org.to_owned(),
                role: role.to_owned(),
            })
        }
        _ => Err(format!("`{text}`: expected ORG:ROLE")),
    }
}

fn audit_scope(owner: Option<String>, org: Option<String>) -> Result<AuditScope> {
    match (owner, org) {
        (Some(owner), _) => Ok(AuditScope::Owner(
            match owner.strip_prefix("service_user:") {
                Some(id) => Owner::service_user(id),
                None => Owner::user(owner.strip_prefix("user:").unwrap_or(&owner)),
            },
        )),
        (None, Some(org)) => Ok(AuditScope::Org(org)),
        (None, None) => Err(fail(Failure::Usage, "pass --owner or --org")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.json);
    match run(cli, output).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let class = classify(&error);
            eprintln!("cogadmin: error: {error:#}");
            std::process::ExitCode::from(class.code())
        }
    }
}

async fn run(cli: Cli, out: Output) -> Result<()> {
    let table = cli
        .table
        .ok_or_else(|| fail(Failure::Usage, "no table: set TABLE_NAME or pass --table"))?;
    let config = sdk_config().await;
    let local = identity::dynamodb_endpoint(&config).is_some_and(|url| identity::is_loopback(&url));
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let ops = Operator::new(
        DynamoStore::new(dynamodb.clone(), table),
        aws_sdk_kms::Client::new(&config),
        config,
        local,
        cli.actor,
        out,
    );
    match cli.command {
        Command::Init(args) => {
            ops.init(&args.key.key_id, args.allow_aws, args.dry_run)
                .await
        }
        Command::Account(AccountCommand::Put {
            user_id,
            status,
            sso,
            beta,
            orgs,
            dry_run,
        }) => {
            ops.account_put(user_id, status, sso, beta, orgs, dry_run)
                .await
        }
        Command::Account(AccountCommand::Get { user_id }) => ops.account_get(&user_id).await,
        Command::ServiceUser(ServiceUserCommand::Create {
            id,
            org,
            role,
            name,
        }) => ops.service_user_create(id, org, role, name).await,
        Command::ServiceUser(ServiceUserCommand::Get { id }) => ops.service_user_get(&id).await,
        Command::Pepper(PepperCommand::Rotate { key, dry_run }) => {
            ops.pepper_rotate(&key.key_id, dry_run).await
        }
        Command::Pepper(PepperCommand::List) => ops.pepper_list().await,
        Command::Pepper(PepperCommand::Retire { version, dry_run }) => {
            ops.pepper_retire(PepperVersion(version), dry_run).await
        }
        Command::Token(TokenCommand::List {
            owner,
            service_user,
            status,
        }) => {
            ops.token_list(&owner_of(&owner, service_user), status)
                .await
        }
        Command::Token(TokenCommand::Show { id }) => ops.token_show(&id).await,
        Command::Token(TokenCommand::IdleBackfill { dry_run }) => {
            ops.token_idle_backfill(dry_run).await
        }
        Command::Token(TokenCommand::UsagePlanBackfill {
            stages,
            prefix,
            dry_run,
        }) => {
            ops.token_usage_plan_backfill(&stages, prefix, dry_run)
                .await
        }
        Command::Token(TokenCommand::RevokeAll {
            owner,
            service_user,
            reason,
            dry_run,
        }) => {
            ops.token_revoke_all(&owner_of(&owner, service_user), &reason, dry_run)
                .await
        }
        Command::Token(TokenCommand::Revoke(args)) => match args.target()? {
            RevokeTarget::One(id) => ops.token_revoke_one(&id, &args.reason, args.dry_run).await,
            RevokeTarget::Owner(owner) => {
                ops.token_revoke_all(&owner, &args.reason, args.dry_run)
                    .await
            }
            RevokeTarget::Many(selection) => {
                ops.token_revoke_selection(&selection, &args.reason, args.force, args.dry_run)
                    .await
            }
        },
        Command::RestoreReconcile(args) => {
            let source = DynamoStore::new(dynamodb, args.from_table.clone());
            ops.restore_reconcile(
                &source,
                args.restore_point,
                args.until,
                args.keep_absent,
                args.dry_run,
            )
            .await
        }
        Command::Audit(AuditArgs {
            owner,
            org,
            token,
            since,
            limit,
        }) => {
            let scope = audit_scope(owner, org)?;
            ops.audit(&scope, token, since, limit).await
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use anyhow::bail;

    #[test]
    fn rfc3339_times_read_as_epoch_milliseconds() {
        let at = |text: &str| parse_rfc3339(text).map(|t| t.0);
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(at("2026-12-03T17:00:00Z"), Ok(1_796_317_200_000));
        assert_eq!(at("2026-12-03T18:00:00.5+01:00"), Ok(1_796_317_200_500));
        assert_eq!(
            at("2026-12-03t16:30:00.123456-00:30"),
            Ok(1_796_317_200_123)
        );
        assert_eq!(at("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        for bad in [
            "2026-12-03",
            "2026-13-03T17:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-12-03T17:00:00",
            "2026-12-03T17:00:00.Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T17:00:00+1:00",
            "+026-12-03T17:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    fn target(args: &[&str]) -> Result<RevokeTarget> {
        let cli = Cli::try_parse_from(["cogadmin", "token", "revoke"].iter().chain(args))?;
        match cli.command {
            Command::Token(TokenCommand::Revoke(revoke)) => revoke.target(),
            other => bail!("parsed as {other:?}"),
        }
    }

    #[test]
    fn token_revoke_takes_exactly_one_selector() {
        assert!(matches!(
            target(&["--pepper-version", "1", "--dry-run"]),
            Ok(RevokeTarget::Many(Selection::PepperVersion(PepperVersion(
                1
            ))))
        ));
        assert!(matches!(
            target(&["--org", "acme"]),
            Ok(RevokeTarget::Many(Selection::Org(org))) if org == "acme"
        ));
        assert!(matches!(
            target(&[
                "--issued-after",
                "2026-12-01T00:00:00Z",
                "--issued-before",
                "2026-12-02T00:00:00Z"
            ]),
            Ok(RevokeTarget::Many(Selection::IssuedBetween {
                after: Some(_),
                before: Some(_)
            }))
        ));
        assert!(matches!(
            target(&["--owner", "svc_1", "--service-user"]),
            Ok(RevokeTarget::Owner(owner)) if owner == Owner::service_user("svc_1")
        ));
        for bad in [
            &[][..],
            &["--org", "acme", "--pepper-version", "1"],
            &[
                "--issued-after",
                "2026-12-02T00:00:00Z",
                "--issued-before",
                "2026-12-01T00:00:00Z",
            ],
            &["--org", "acme", "--force"],
        ] {
            let error = target(bad).unwrap_err();
            assert_eq!(classify(&error), Failure::Usage, "{bad:?}");
        }
        for unparsable in [&["--id", "not-an-id"][..], &["--service-user"]] {
            assert!(target(unparsable).is_err(), "{unparsable:?}");
        }
    }

    #[test]
    fn every_command_that_changes_state_has_a_dry_run() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: String, found: &mut Vec<(String, bool)>) {
            let subcommands: Vec<_> = command.get_subcommands().collect();
            if subcommands.is_empty() {
                let dry = command.get_arguments().any(|a| a.get_id() == "dry_run");
                found.push((path.clone(), dry));
            }
            for sub in subcommands {
                walk(sub, format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut found = Vec::new();
        walk(&Cli::command(), "cogadmin".into(), &mut found);
        // Reads, and creating a new record (nothing existing changes).
        let without = [
            "cogadmin account get",
            "cogadmin service-user create",
            "cogadmin service-user get",
            "cogadmin pepper list",
            "cogadmin token list",
            "cogadmin token show",
            "cogadmin audit",
            "cogadmin help",
        ];
        for (path, dry) in &found {
            let exempt = without.iter().any(|w| path.starts_with(w));
            assert_eq!(*dry, !exempt, "{path}");
        }
        assert!(found.len() > without.len(), "{found:?}");
    }

    #[test]
    fn the_help_documents_the_exit_codes() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("Exit codes:") && help.contains("5  refused"),
            "{help}"
        );
    }

    /// docs/runbook.md names every alarm of the template, every exit code,
    /// and only subcommands that exist.
    #[test]
    fn the_runbook_covers_every_alarm_and_exit_code_and_names_real_commands() {
        use clap::CommandFactory;
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();
        let (template, runbook) = (read("template.yaml"), read("docs/runbook.md"));
        let lines: Vec<&str> = template.lines().collect();
        let alarms: Vec<&str> = lines
            .windows(2)
            .filter(|pair| pair[1].trim() == "Type: AWS::CloudWatch::Alarm")
            .map(|pair| pair[0].trim().trim_end_matches(':'))
            .collect();
        assert!(alarms.len() > 10, "{alarms:?}");
        for alarm in alarms {
            assert!(runbook.contains(&format!("| `{alarm}` |")), "{alarm}");
        }
        for code in 0..=5 {
            assert!(
                runbook.contains(&format!("\n| {code} | ")),
                "exit code {code}"
            );
        }
        let cli = Cli::command();
        let mut named = 0;
        for (at, _) in runbook.match_indices("cogadmin ") {
            let mut command = &cli;
            let words = runbook[at + "cogadmin ".len()..].split([' ', '`', '\n']);
            for word in words {
                let subcommand_like = word.starts_with(|c: char| c.is_ascii_lowercase())
                    && word.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                if !subcommand_like {
                    break;
                }
                match command.find_subcommand(word) {
                    Some(sub) => command = sub,
                    None if command.has_subcommands() => {
                        panic!("`cogadmin … {word}` in the runbook")
                    }
                    None => break,
                }
            }
            named += usize::from(!std::ptr::eq(command, &cli));
        }
        assert!(named > 20, "{named} commands named");
    }

    #[test]
    fn a_pasted_token_is_read_as_its_id_only() {
        let token = cog_tokens::PlainToken::generate().unwrap();
        let id = token.id().to_string();
        assert_eq!(parse_token_id(&id).unwrap().to_string(), id);
        assert_eq!(
            parse_token_id(&format!("cog_{id}")).unwrap().to_string(),
            id
        );
        let whole = parse_token_id(token.expose_secret()).unwrap();
        assert_eq!(whole.to_string(), id);
        let error = parse_token_id("cog_short").unwrap_err();
        assert!(
            !error.contains("short"),
            "the input is never echoed: {error}"
        );
    }
}
