//! Identity's SQL, one module per table: users, the login throttle, refresh tokens.

mod refresh;
mod throttle;
mod users;

pub use refresh::{insert_refresh, mark_used, refresh_for_update, revoke_family, RefreshRow};
pub use throttle::{clear_failures, lock, locked_until, record_failure};
pub use users::{insert_user, user_by_email, user_by_id, InsertUserError, NewUser, UserRow};
