//! The inbox's audit trail: who enrolled, revoked, logged in, reviewed.
//! Subjects are ids (device ids, case numbers, login names), never patient data.

use sqlx::{Any, Transaction};

use crate::db::now_ms;
use crate::Error;

pub async fn record(
    tx: &mut Transaction<'_, Any>,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)")
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
