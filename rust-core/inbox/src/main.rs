//! `hemalens-inbox`: the hospital's inbox service and its administration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hemalens_inbox::web::auth::{self, Role};
use hemalens_inbox::{devices, AppState, Config, Db, Error};

#[derive(Parser, Debug)]
#[command(
    name = "hemalens-inbox",
    version,
    about = "The hospital side of Hemalens: receives results, serves the review page."
)]
struct Cli {
    /// Database: postgres://user@host/db for a hospital, or an SQLite file (sqlite:PATH).
    #[arg(long, global = true, env = "HEMALENS_INBOX_DB", default_value = "sqlite:hemalens-inbox.db")]
    db: String,
    /// The hospital's age key (made on first start if missing; keep it secret, back it up).
    #[arg(long, global = true, env = "HEMALENS_INBOX_KEY", default_value = "hemalens-inbox.key")]
    key: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the service (the login page at /).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Minutes of inactivity after which a reviewer must log in again.
        #[arg(long, default_value_t = 30)]
        session_minutes: i64,
        /// Behind a TLS terminator: Secure cookies, client address from X-Forwarded-For.
        #[arg(long)]
        behind_proxy: bool,
        /// The address phones and browsers use, e.g. https://inbox.hospital.example
        #[arg(long)]
        public_url: Option<String>,
        /// Bearer token of the SMS gateway's webhook (POST /api/v1/sms).
        #[arg(long, env = "HEMALENS_INBOX_SMS_TOKEN")]
        sms_token: Option<String>,
        /// How phones list this hospital (the name on its card).
        #[arg(long, default_value = "Hospital")]
        hospital_name: String,
        /// The card on the admin page lets phones send photos over mobile data too.
        #[arg(long)]
        photos_any_network: bool,
        /// Seconds a client may take to send a request's head before it is disconnected.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
        header_timeout_s: u64,
    },
    /// Brings the database to this version's schema and exits.
    Migrate,
    /// Prints the hospital's public key (age1...) for the phones.
    Key,
    /// Prints the hospital's card, the one line a phone scans (as a QR code) or pastes to share with this inbox.
    Card {
        /// The address phones use, e.g. https://inbox.hospital.example
        #[arg(long)]
        public_url: String,
        #[arg(long, default_value = "Hospital")]
        hospital_name: String,
        /// Let phones send photos over mobile data too (results never wait).
        #[arg(long)]
        photos_any_network: bool,
    },
    /// Devices allowed to send.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// People who log in to the review page.
    #[command(subcommand)]
    User(UserCmd),
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// Enrols a device: its id and public key as `hemalens device key` shows them.
    Enrol {
        id: String,
        #[arg(value_name = "KEY")]
        public_key: String,
        #[arg(long, default_value = "phone")]
        label: String,
    },
    Revoke {
        id: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Adds a user; the password is read from HEMALENS_INBOX_PASSWORD or the first line of standard input.
    Add {
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "reviewer")]
        role: String,
    },
    List,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hemalens-inbox: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hemalens-inbox: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> Result<String, Error> {
    if let Ok(p) = std::env::var("HEMALENS_INBOX_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Key => {
            let id = hemalens_inbox::load_or_create_identity(&cli.key)?;
            println!("{}", id.to_public());
            Ok(())
        }
        Command::Card { public_url, hospital_name, photos_any_network } => {
            let id = hemalens_inbox::load_or_create_identity(&cli.key)?;
            let config = Config {
                public_url: Some(public_url),
                hospital_name,
                photos_on_wifi_only: !photos_any_network,
                ..Config::default()
            };
            let card = config.card(&id.to_public().to_string()).unwrap_or_default();
            // Refuse to print a card the phones would refuse (a bad address, an overlong name).
            hemalens_share::card::HospitalCard::parse(&card).map_err(|e| Error::Config(e.to_string()))?;
            println!("{card}");
            Ok(())
        }
        Command::Migrate => {
            let db = Db::open(&cli.db).await?;
            println!("schema version {}", db.version().await?);
            Ok(())
        }
        Command::Device(cmd) => {
            let db = Db::open(&cli.db).await?;
            match cmd {
                DeviceCmd::Enrol { id, public_key, label } => {
                    let d = devices::enrol(&db, &id, &public_key, &label, "command line").await?;
                    println!("enrolled {} ({})", d.id, d.label);
                }
                DeviceCmd::Revoke { id } => {
                    devices::revoke(&db, &id, "command line").await?;
                    println!("revoked {id}");
                }
                DeviceCmd::List => {
                    for d in devices::list(&db).await? {
                        let state = if d.revoked_at.is_some() { "revoked" } else { "enrolled" };
                        println!("{}\t{}\t{}\t{}", d.id, d.public_key, state, d.label);
                    }
                }
            }
            Ok(())
        }
        Command::User(cmd) => {
            let db = Db::open(&cli.db).await?;
            match cmd {
                UserCmd::Add { login, name, role } => {
                    let role =
                        Role::parse(&role).ok_or(Error::BadRequest("the role is reviewer or admin"))?;
                    auth::add_user(&db, &login, &name, role, &read_password()?, "command line").await?;
                    println!("added {login} ({})", role.as_str());
                }
                UserCmd::List => {
                    for (u, active) in auth::users(&db).await? {
                        println!(
                            "{}\t{}\t{}\t{}",
                            u.login,
                            u.role.as_str(),
                            if active { "active" } else { "disabled" },
                            u.display_name
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Serve {
            listen,
            session_minutes,
            behind_proxy,
            public_url,
            sms_token,
            hospital_name,
            photos_any_network,
            header_timeout_s,
        } => {
            let identity = hemalens_inbox::load_or_create_identity(&cli.key)?;
            let db = Db::open(&cli.db).await?;
            if auth::user_count(&db).await? == 0 {
                // First start: an administrator with a one-time password, shown once here.
                // Instances started together race to make it; the losers carry on.
                let password = hemalens_inbox::db::random_hex(9)?;
                match auth::add_user(&db, "admin", "Administrator", Role::Admin, &password, "first start")
                    .await
                {
                    Ok(()) => println!(
                        "First start: log in as `admin` with the password {password} and add the reviewers."
                    ),
                    Err(Error::BadRequest(_)) if auth::user_count(&db).await? > 0 => {}
                    Err(e) => return Err(e),
                }
            }
            let config = Config {
                session_ttl_ms: session_minutes.clamp(1, 24 * 60) * 60_000,
                secure_cookies: behind_proxy,
                trust_forwarded: behind_proxy,
                sms_token,
                public_url,
                hospital_name,
                photos_on_wifi_only: !photos_any_network,
                header_timeout: std::time::Duration::from_secs(header_timeout_s),
            };
            let state = AppState::new(db, identity, config);
            println!("hospital key {}", state.recipient);
            hemalens_inbox::serve(state, listen).await
        }
    }
}
