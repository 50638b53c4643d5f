//! Presentation helpers shared by the templates.
use chrono::{DateTime, Utc};

/// What the shared layout needs: the signed-in user (if any) and the CSRF token.
pub struct Chrome {
    pub user: Option<UserBadge>,
    pub csrf: String,
}

pub struct UserBadge {
    pub username: String,
    pub role_label: &'static str,
    pub is_support: bool,
    pub sees_audit: bool,
}

impl Chrome {
    pub fn for_user(user: &crate::auth::extract::CurrentUser) -> Self {
        Chrome {
            user: Some(UserBadge {
                username: user.username.clone(),
                role_label: user.role.label(),
                is_support: user.role == crate::domain::role::Role::Support,
                sees_audit: user.role.can(crate::domain::role::Action::ViewAuditLog),
            }),
            csrf: user.csrf.clone(),
        }
    }
}

pub fn exact(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "just now", "5 minutes ago", "yesterday", then the date.
pub fn relative(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - *t).num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=172_799 => "yesterday".into(),
        172_800..=2_591_999 => plural(secs / 86_400, "day"),
        _ => t.format("%b %-d, %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative(&now, now), "just now");
        assert_eq!(
            relative(&(now - chrono::Duration::minutes(1)), now),
            "1 minute ago"
        );
        assert_eq!(
            relative(&(now - chrono::Duration::hours(5)), now),
            "5 hours ago"
        );
        assert_eq!(
            relative(&(now - chrono::Duration::days(3)), now),
            "3 days ago"
        );
    }
}
