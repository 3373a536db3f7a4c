//! Identity's SQL, one module per table group: users, sessions and refresh
//! tokens, single-use tokens, recovery codes, the audit log, the sign-in throttle.

mod audit;
mod mfa;
mod refresh;
pub mod throttle;
mod tokens;
mod users;

pub use audit::{append_audit, AuditAction};
pub use mfa::{delete_recovery_codes, replace_recovery_codes, use_recovery_code};
pub use refresh::{
    active_sessions, insert_refresh, insert_session, mark_used, refresh_for_update, revoke_family,
    revoke_user_sessions, session_for_update, touch_session, NewSession, RefreshRow, SessionRow,
};
pub use tokens::{
    consume_token, expire_tokens, insert_token, token_user, tokens_made_since, Purpose,
};
pub use users::{
    claim_totp_step, disable_totp, disabled_at, enable_totp, insert_user, mark_verified,
    search_users, set_disabled, set_password_hash, set_pending_totp, set_totp_secret,
    user_by_email, user_by_id, user_for_update, InsertUserError, NewUser, UserRow,
};
