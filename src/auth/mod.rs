//! Passwords, sessions, CSRF and the extractors that put the caller's role in each handler's
//! signature.
pub mod csrf;
pub mod extract;
pub mod password;
pub mod session;
pub mod session_store;

/// Keys kept in the server-side session state.
pub mod keys {
    pub const USER_ID: &str = "user_id";
    pub const GENERATION: &str = "gen";
    pub const LOGIN_AT: &str = "login_at";
    pub const CSRF: &str = "csrf";
    /// The confirmation of a change made by a plain form post, for the page it redirects to.
    pub const FLASH: &str = "flash";
    /// The id of a token whose value a plain form post (add, regenerate) just made: the page it
    /// redirects to shows that value once. Only the id: the value never enters the session
    /// store, the page reads it sealed from the token row.
    pub const SHOW_ONCE: &str = "show_once";
}
