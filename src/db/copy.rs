//! `atlhyper-master db copy`: moves an embedded SQLite database into an empty PostgreSQL
//! database, every table with its ids, times and sealed secrets intact.
//!
//! - The source is read in one read transaction (a consistent snapshot, even while a
//!   master still writes to it), brought up to the current schema first.
//! - The target gets its own migrations, must hold no data (the built-in alert rules its
//!   migration seeds are replaced by the source's), and is written in one transaction: a
//!   failed copy leaves it empty. Identity sequences are moved past the copied ids.
//! - Rows travel as JSON, page by page: SQLite renders each row with `json_object` (REALs
//!   as 17-digit text, so no double loses a bit), PostgreSQL types it back with
//!   `json_populate_recordset`, by column name. Nothing here decrypts anything: channel
//!   configs stay sealed, so the master on PostgreSQL needs the same secret key.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{migrate, DbConn, DbError, Location};

/// Every table, parents before children (foreign keys hold at each insert).
pub const TABLES: [&str; 32] = [
    "clusters",
    "command_history",
    "users",
    "tokens",
    "agent_tokens",
    "audit_logs",
    "security_events",
    "cluster_events",
    "event_resource_snapshot",
    "node_metrics_latest",
    "node_metrics_history",
    "settings",
    "alert_rules",
    "alert_history",
    "silences",
    "notify_channels",
    "notify_deliveries",
    "slo_routes",
    "slo_push_state",
    "slo_series",
    "slo_targets",
    "slo_status_history",
    "ai_providers",
    "ai_settings",
    "ai_conversations",
    "ai_messages",
    "ai_tool_calls",
    "ai_proposals",
    "cluster_agents",
    "agent_versions",
    "cluster_changes",
    "change_state",
];

/// Tables whose `id` is an identity column on PostgreSQL.
const NO_ID: [&str; 10] = [
    "agent_tokens",
    "change_state",
    "cluster_agents",
    "ai_settings",
    "node_metrics_latest",
    "settings",
    "slo_routes",
    "slo_push_state",
    "slo_series",
    "slo_targets",
];

/// Rows per page (one JSON document each way).
const PAGE: i64 = 2_000;

/// Rows copied per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// `(table, rows)`.
    pub tables: Vec<(&'static str, u64)>,
}

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target already holds data.
    #[error("the target database is not empty: table {table} has {rows} row(s); copy only into an empty database")]
    NotEmpty {
        /// The first table found with rows.
        table: &'static str,
        /// How many.
        rows: u64,
    },
    /// Source and target are the same engine in a way this command does not do.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A row count differs after the copy (nothing was committed).
    #[error("table {table}: {source_rows} row(s) in the source, {target_rows} in the target")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// Rows read.
        source_rows: u64,
        /// Rows found after inserting.
        target_rows: u64,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CopyError {
    fn from(e: diesel::result::Error) -> Self {
        CopyError::Db(DbError::Query(e))
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    type_: String,
}

#[derive(QueryableByName)]
struct Page {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    rows: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    last: Option<i64>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut DbConn, table: &str) -> Result<u64, DbError> {
    let c: Count =
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(conn)?;
    Ok(u64::try_from(c.n).unwrap_or(0))
}

/// The target holds nothing but the built-in alert rules its migration seeded.
fn check_empty(conn: &mut DbConn) -> Result<(), CopyError> {
    for table in TABLES {
        let rows = if table == "alert_rules" {
            let c: Count = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM alert_rules WHERE builtin IS NULL OR updated_at <> created_at",
            )
            .get_result(conn)?;
            u64::try_from(c.n).unwrap_or(0)
        } else {
            count(conn, table)?
        };
        if rows > 0 {
            return Err(CopyError::NotEmpty { table, rows });
        }
    }
    Ok(())
}

/// The SELECT list that renders one row of `table` as a JSON object.
fn json_row(conn: &mut DbConn, table: &str) -> Result<String, DbError> {
    let cols: Vec<Column> = diesel::sql_query(format!(
        "SELECT name, type AS type_ FROM pragma_table_info('{table}') ORDER BY cid"
    ))
    .load(conn)?;
    let fields: Vec<String> = cols
        .iter()
        .map(|c| {
            let value = if c.type_.eq_ignore_ascii_case("DOUBLE") {
                format!(
                    "CASE WHEN \"{n}\" IS NULL THEN NULL ELSE printf('%!.17g', \"{n}\") END",
                    n = c.name
                )
            } else {
                format!("\"{}\"", c.name)
            };
            format!("'{}', {value}", c.name)
        })
        .collect();
    Ok(format!("json_object({})", fields.join(", ")))
}

/// Copies every table of `from` (SQLite) into `to` (an empty PostgreSQL database).
pub fn copy(from: &Location, to: &Location) -> Result<CopyReport, CopyError> {
    let (Location::Sqlite(_), Location::Postgres(_)) = (from, to) else {
        return Err(CopyError::Unsupported(
            "db copy moves an embedded database up: --from sqlite:PATH --to postgres://…",
        ));
    };
    if let Location::Sqlite(p) = from {
        if !p.exists() {
            return Err(CopyError::Db(DbError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no SQLite database at {}", p.display()),
            ))));
        }
    }
    let mut src = from.connect()?;
    migrate(&mut src)?;
    let mut dst = to.connect()?;
    migrate(&mut dst)?;
    check_empty(&mut dst)?;
    src.transaction::<_, CopyError, _>(|src| {
        dst.transaction::<_, CopyError, _>(|dst| copy_all(src, dst))
    })
}

fn copy_all(src: &mut DbConn, dst: &mut DbConn) -> Result<CopyReport, CopyError> {
    // The source's rules (built-ins included, as tuned there) replace the seeded ones.
    diesel::sql_query("DELETE FROM alert_rules").execute(dst)?;
    // A digest delivery is newer than the rows folded into it: their `digest_id` (the one
    // DEFERRABLE key) is checked at commit, when every row is in.
    diesel::sql_query("SET CONSTRAINTS ALL DEFERRED").execute(dst)?;
    let mut report = Vec::new();
    for table in TABLES {
        let select = json_row(src, table)?;
        let mut after = i64::MIN;
        let mut copied = 0u64;
        loop {
            let page: Page = diesel::sql_query(format!(
                "SELECT json_group_array(json(j)) AS rows, MAX(r) AS last, COUNT(*) AS n FROM \
                 (SELECT {select} AS j, rowid AS r FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?)"
            ))
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(PAGE)
            .get_result(src)?;
            let (Some(rows), Some(last)) = (page.rows, page.last) else {
                break;
            };
            diesel::sql_query(format!(
                "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
            ))
            .bind::<Text, _>(&rows)
            .execute(dst)?;
            copied += u64::try_from(page.n).unwrap_or(0);
            after = last;
        }
        if !NO_ID.contains(&table) {
            diesel::sql_query(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) AS n FROM {table}"
            ))
            .execute(dst)?;
        }
        let target_rows = count(dst, table)?;
        if target_rows != copied {
            return Err(CopyError::Mismatch {
                table,
                source_rows: copied,
                target_rows,
            });
        }
        report.push((table, copied));
    }
    Ok(CopyReport { tables: report })
}
