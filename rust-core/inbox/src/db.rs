//! The database: PostgreSQL for a hospital, an embedded SQLite file for one
//! small clinic, through sqlx's `Any` driver so every query is written once
//! (`$1` placeholders, `RETURNING`, `ON CONFLICT`, `BIGINT` and text: what
//! both speak). The migrations in `migrations/` are written once too; the two
//! spellings that differ (an auto-numbered key, a byte column) are
//! `SERIAL_PK` and `BYTES`, filled in per backend before sqlx runs them.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, SqlSafeStr};

use crate::Error;

/// The migrations, in order. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "inbox", include_str!("../migrations/0001_inbox.sql")),
    (2, "sms", include_str!("../migrations/0002_sms.sql")),
    (3, "reviewed index", include_str!("../migrations/0003_reviewed_index.sql")),
];

/// The schema version this build reaches.
pub const LATEST: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A pool of connections to the inbox's database.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, name, sql)| {
            let sql = match backend {
                Backend::Postgres => {
                    sql.replace("SERIAL_PK", "BIGSERIAL PRIMARY KEY").replace("BYTES", "BYTEA")
                }
                Backend::Sqlite => {
                    sql.replace("SERIAL_PK", "INTEGER PRIMARY KEY AUTOINCREMENT").replace("BYTES", "BLOB")
                }
            };
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

impl Db {
    /// Connects (creating an SQLite file if needed) without migrating.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Config("the database URL must start with postgres:// or sqlite:".into()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let opts = AnyConnectOptions::from_str(&url).map_err(|_| Error::Config("bad database URL".into()))?;
        let pool = match backend {
            // One writer at a time is SQLite's rule; one connection keeps
            // transactions from tripping over each other (busy errors).
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await?
            }
        };
        Ok(Self { pool, backend })
    }

    /// Connects and brings the schema to the latest version (instances
    /// starting together take turns: sqlx holds a lock while migrating).
    pub async fn open(url: &str) -> Result<Self, Error> {
        let db = Self::connect(url).await?;
        db.migrate_to(LATEST).await?;
        Ok(db)
    }

    /// Applies the migrations up to `version` (tests start from each earlier one).
    pub async fn migrate_to(&self, version: i64) -> Result<(), Error> {
        let m = migrator(self.backend);
        m.run_to(version, &self.pool).await.map_err(|e| Error::Migrate(e.to_string()))
    }

    /// The highest applied migration (0 for an empty database).
    pub async fn version(&self) -> Result<i64, Error> {
        let exists: Option<(i64,)> = match self.backend {
            Backend::Postgres => {
                sqlx::query_as("SELECT 1::BIGINT WHERE to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_optional(&self.pool)
                    .await?
            }
            Backend::Sqlite => {
                sqlx::query_as("SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations'")
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        if exists.is_none() {
            return Ok(0);
        }
        let (v,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }
}

/// Milliseconds since the Unix epoch (UTC).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `n` random bytes as lower-case hex (ids, tokens).
pub fn random_hex(n: usize) -> Result<String, Error> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b).map_err(|_| Error::Internal("no randomness"))?;
    Ok(hex::encode(b))
}
