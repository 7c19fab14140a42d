//! `cogadmin`: the operator CLI. Works against the local stack or real AWS
//! through the standard AWS environment (`AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL_*`), plus `TABLE_NAME` and, for peppers, `PEPPER_KEY_ID`.
//! It never prints a secret: peppers appear as versions, tokens as ids.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI talks on stdout and stderr

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use cog_tokens::aws::dynamodb::schema;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::add_pepper_version;
use cog_tokens::aws::sdk_config;
use cog_tokens::management::lifecycle::revoke_all;
use cog_tokens::management::DEFAULT_MAX_SERVICE_USERS_PER_ORG;
use cog_tokens::records::audit::{AuditFilter, AuditScope};
use cog_tokens::records::{
    Account, Actor, AuditAction, AuditEvent, OrgMembership, Owner, PrincipalStatus, ServiceUser,
    Timestamp, UserId,
};
use cog_tokens::store::{AuditLog, PepperStore, PrincipalStore, StoreError, StoredPepper};
use cog_tokens::PepperVersion;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "cogadmin", version, about = "Operate the cog_ token system")]
struct Cli {
    /// DynamoDB table
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the table if it is missing and pepper v1 if there is none (idempotent)
    Init(KeyArgs),
    /// Human user accounts
    #[command(subcommand)]
    Account(AccountCommand),
    /// Service users (non-human principals with one role in one org)
    #[command(subcommand, name = "service-user")]
    ServiceUser(ServiceUserCommand),
    /// The pepper ring
    #[command(subcommand)]
    Pepper(PepperCommand),
    /// Tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print an owner's or an org's audit trail, newest first (JSON lines)
    Audit(AuditArgs),
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// A user's trail (`alice`) or a service user's (`service_user:svc_…`)
    #[arg(long, conflicts_with = "org", required_unless_present = "org")]
    owner: Option<String>,
    /// The changes an org's admins made in it
    #[arg(long)]
    org: Option<String>,
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
    Rotate(KeyArgs),
    /// List versions (never the keys)
    List,
    /// Retire a version once no live token uses it
    Retire { version: u32 },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Revoke every token of one owner (a compromised account, a departed user)
    RevokeAll {
        /// The owner's id
        #[arg(long)]
        owner: String,
        /// The owner is a service user rather than a human user
        #[arg(long)]
        service_user: bool,
        #[arg(long, default_value = "operator revoke-all")]
        reason: String,
    },
}

fn parse_user_id(text: &str) -> Result<UserId, String> {
    UserId::parse(text).map_err(|e| format!("`{}`: {e}", text.escape_debug()))
}

fn parse_status(text: &str) -> Result<PrincipalStatus, String> {
    text.parse()
        .map_err(|_| format!("`{text}`: expected active, suspended or deleted"))
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

fn account_json(account: &Account) -> serde_json::Value {
    json!({
        "user_id": account.user_id,
        "status": account.status,
        "sso": account.sso,
        "pat_beta": account.pat_beta,
        "orgs": account.orgs,
    })
}

const OPERATOR: &str = "operator";

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cogadmin: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let table = cli
        .table
        .context("no table: set TABLE_NAME or pass --table")?;
    let config = sdk_config().await;
    let ops = Operator {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table),
        kms: aws_sdk_kms::Client::new(&config),
    };
    match cli.command {
        Command::Init(KeyArgs { key_id }) => ops.init(&key_id).await,
        Command::Account(AccountCommand::Put {
            user_id,
            status,
            sso,
            beta,
            orgs,
        }) => ops.account_put(user_id, status, sso, beta, orgs).await,
        Command::Account(AccountCommand::Get { user_id }) => ops.account_get(&user_id).await,
        Command::ServiceUser(ServiceUserCommand::Create {
            id,
            org,
            role,
            name,
        }) => ops.service_user_create(id, org, role, name).await,
        Command::ServiceUser(ServiceUserCommand::Get { id }) => ops.service_user_get(&id).await,
        Command::Pepper(PepperCommand::Rotate(KeyArgs { key_id })) => {
            ops.pepper_rotate(&key_id).await
        }
        Command::Pepper(PepperCommand::List) => ops.pepper_list().await,
        Command::Pepper(PepperCommand::Retire { version }) => {
            ops.pepper_retire(PepperVersion(version)).await
        }
        Command::Token(TokenCommand::RevokeAll {
            owner,
            service_user,
            reason,
        }) => {
            let owner = if service_user {
                Owner::service_user(owner)
            } else {
                Owner::user(owner)
            };
            ops.token_revoke_all(&owner, &reason).await
        }
        Command::Audit(AuditArgs { owner, org, limit }) => {
            let scope = match (owner, org) {
                (Some(owner), _) => AuditScope::Owner(match owner.strip_prefix("service_user:") {
                    Some(id) => Owner::service_user(id),
                    None => Owner::user(owner.strip_prefix("user:").unwrap_or(&owner)),
                }),
                (None, Some(org)) => AuditScope::Org(org),
                (None, None) => bail!("pass --owner or --org"),
            };
            ops.audit(&scope, limit).await
        }
    }
}

fn audit_json(event: &AuditEvent) -> serde_json::Value {
    json!({
        "at": event.at.0, "actor": event.actor, "action": event.action.as_str(),
        "owner": event.owner.as_ref().map(ToString::to_string),
        "token_id": event.token_id.map(|id| id.to_string()), "detail": event.detail,
        "org": event.org,
        "source_ip": event.origin.as_ref().map(|o| o.source_ip.as_str()),
        "user_agent": event.origin.as_ref().map(|o| o.user_agent.as_str()),
    })
}

fn service_user_json(user: &ServiceUser) -> serde_json::Value {
    json!({"id": user.id, "name": user.name, "org_id": user.org_id, "role": user.role, "status": user.status})
}

/// The clients every subcommand works through; one method per subcommand.
struct Operator {
    store: DynamoStore,
    kms: aws_sdk_kms::Client,
}

impl Operator {
    async fn init(&self, key_id: &str) -> Result<()> {
        let store = &self.store;
        let created = schema::ensure_table(store.client(), store.table()).await?;
        let version = if store.list_peppers().await?.is_empty() {
            Some(add_pepper_version(&self.kms, store, key_id, OPERATOR).await?)
        } else {
            None
        };
        println!(
            "{}",
            json!({"table": store.table(), "table_created": created, "pepper_created": version.map(|v| v.0)})
        );
        Ok(())
    }

    async fn account_put(
        &self,
        user_id: UserId,
        status: PrincipalStatus,
        sso: bool,
        pat_beta: bool,
        mut orgs: Vec<OrgMembership>,
    ) -> Result<()> {
        orgs.sort();
        orgs.dedup_by(|a, b| a.org_id == b.org_id);
        if orgs.len() > Account::MAX_ORGS {
            bail!("an account may be in at most {} orgs", Account::MAX_ORGS);
        }
        let account = Account {
            user_id: user_id.as_str().to_owned(),
            status,
            sso,
            pat_beta,
            orgs,
            tokens_valid_after: None,
        };
        self.store
            .put_account(&account, &account.audit_put(OPERATOR, Timestamp::now()))
            .await?;
        println!("{}", account_json(&account));
        Ok(())
    }

    async fn account_get(&self, user_id: &str) -> Result<()> {
        match self.store.get_account(user_id).await? {
            Some(account) => println!("{}", account_json(&account)),
            None => bail!("no account `{user_id}`"),
        }
        Ok(())
    }

    async fn service_user_create(
        &self,
        id: String,
        org_id: String,
        role: String,
        name: Option<String>,
    ) -> Result<()> {
        if !ServiceUser::is_valid_id(&id) {
            bail!(
                "`{}`: a service user id is 1 to 64 of A-Z a-z 0-9 _ -",
                id.escape_debug()
            );
        }
        let user = ServiceUser {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            org_id,
            role,
            status: PrincipalStatus::Active,
            created_at: Timestamp::now(),
            tokens_valid_after: None,
        };
        let audit = AuditEvent::new(
            OPERATOR,
            AuditAction::ServiceUserCreate,
            Owner::service_user(&user.id),
            Timestamp::now(),
        );
        let limit = DEFAULT_MAX_SERVICE_USERS_PER_ORG;
        match self.store.create_service_user(&user, limit, &audit).await {
            Err(StoreError::AlreadyExists) => bail!("service user `{}` exists already", user.id),
            Err(StoreError::LimitReached { limit }) => {
                bail!("org `{}` has {limit} service users, its limit", user.org_id)
            }
            other => other?,
        }
        println!("{}", service_user_json(&user));
        Ok(())
    }

    async fn service_user_get(&self, id: &str) -> Result<()> {
        match self.store.get_service_user(id).await? {
            Some(user) => println!("{}", service_user_json(&user)),
            None => bail!("no service user `{id}`"),
        }
        Ok(())
    }

    async fn pepper_rotate(&self, key_id: &str) -> Result<()> {
        let version = add_pepper_version(&self.kms, &self.store, key_id, OPERATOR).await?;
        println!("{}", json!({"pepper_version": version.0}));
        Ok(())
    }

    async fn pepper_list(&self) -> Result<()> {
        let peppers = self.store.list_peppers().await?;
        let current = current_version(&peppers);
        for pepper in peppers {
            println!(
                "{}",
                json!({
                    "version": pepper.version.0,
                    "created_at_ms": pepper.created_at.0,
                    "kms_key_id": pepper.kms_key_id,
                    "retired": pepper.retired,
                    "current": Some(pepper.version) == current,
                })
            );
        }
        Ok(())
    }

    async fn pepper_retire(&self, version: PepperVersion) -> Result<()> {
        let peppers = self.store.list_peppers().await?;
        let Some(target) = peppers.iter().find(|p| p.version == version) else {
            bail!("no pepper {version}");
        };
        if target.retired {
            bail!("pepper {version} is retired already");
        }
        if Some(version) == current_version(&peppers) {
            bail!("pepper {version} is the current version; rotate first");
        }
        let live = self
            .store
            .live_tokens_with_pepper(version, Timestamp::now())
            .await?;
        if live > 0 {
            bail!("pepper {version} still hashes {live} live token(s); they must be re-hashed, expire or be revoked first");
        }
        let audit = AuditEvent::system(OPERATOR, AuditAction::PepperRetire, Timestamp::now())
            .with_detail(version.to_string());
        self.store.retire_pepper(version, &audit).await?;
        println!("{}", json!({"retired": version.0}));
        Ok(())
    }

    /// Every page up to `limit` events, one JSON object a line.
    async fn audit(&self, scope: &AuditScope, limit: usize) -> Result<()> {
        let mut printed = 0;
        let mut cursor = None;
        while printed < limit {
            let page = self
                .store
                .audit_page(
                    scope,
                    AuditFilter::default(),
                    limit - printed,
                    cursor.as_deref(),
                )
                .await?;
            for event in &page.events {
                println!("{}", audit_json(event));
            }
            printed += page.events.len();
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(())
    }

    async fn token_revoke_all(&self, owner: &Owner, reason: &str) -> Result<()> {
        let by = Actor::new(OPERATOR);
        let count = revoke_all(&self.store, owner, &by, reason, Timestamp::now()).await?;
        println!("{}", json!({"owner": owner.to_string(), "revoked": count}));
        Ok(())
    }
}

/// The version new tokens are hashed under: the newest one not retired.
fn current_version(peppers: &[StoredPepper]) -> Option<PepperVersion> {
    peppers
        .iter()
        .filter(|p| !p.retired)
        .map(|p| p.version)
        .max()
}
