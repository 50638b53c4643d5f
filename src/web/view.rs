//! Presentation helpers shared by the templates.
use chrono::{DateTime, Utc};

/// What the shared layout needs: the signed-in user (if any) and the CSRF token.
pub struct Chrome {
    pub user: Option<UserBadge>,
    pub csrf: String,
    /// Which main-navigation entry is the current page ("tokens", "orgs", "audit" or "").
    pub section: &'static str,
}

pub struct UserBadge {
    pub username: String,
    pub role_label: &'static str,
    pub is_support: bool,
    pub sees_audit: bool,
}

impl Chrome {
    pub fn for_user(user: &crate::auth::extract::CurrentUser, section: &'static str) -> Self {
        Chrome {
            user: Some(UserBadge {
                username: user.username.clone(),
                role_label: user.role.label(),
                is_support: user.role == crate::domain::role::Role::Support,
                sees_audit: user.role.can(crate::domain::role::Action::ViewAuditLog),
            }),
            csrf: user.csrf.clone(),
            section,
        }
    }
}

/// How every page shows a moment: to the minute and in UTC, with the zone written out, so a
/// table cell, a notice and a message read alike and nobody takes it for local time. The exact
/// instant goes in the `datetime` attribute of a `<time>`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// As `when`, to the second: where several rows may fall in one minute (the audit log).
pub fn when_exact(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "just now", "5 minutes ago", "yesterday", then the moment as `when` shows it.
pub fn relative(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - *t).num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => plural(secs / 60, "minute"),
        3600..=86_399 => plural(secs / 3600, "hour"),
        86_400..=172_799 => "yesterday".into(),
        172_800..=2_591_999 => plural(secs / 86_400, "day"),
        _ => when(t),
    }
}

/// A small inline SVG line of daily values (no chart library in the browser).
pub struct Sparkline {
    /// `points` of an SVG polyline in a 84×20 box.
    pub points: String,
    pub label: String,
}

pub fn sparkline(values: &[i32], what: &str) -> Sparkline {
    const W: f64 = 84.0;
    const H: f64 = 20.0;
    let peak = values.iter().copied().max().unwrap_or(0).max(1);
    let step = if values.len() > 1 {
        W / (values.len() - 1) as f64
    } else {
        0.0
    };
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = H - 2.0 - f64::from(*v) / f64::from(peak) * (H - 4.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ");
    let total: i64 = values.iter().map(|v| i64::from(*v)).sum();
    Sparkline {
        points,
        label: format!(
            "{what} over the last {} days: {total} in all, at most {} in a day",
            values.len(),
            values.iter().copied().max().unwrap_or(0)
        ),
    }
}

/// How much of a daily allowance is used, for a bar gauge.
pub struct Gauge {
    pub used: i64,
    pub allowed: i64,
    /// 0 to 100, for the bar's width.
    pub percent: u32,
    /// "ok", "warn" (80 % and more) or "full".
    pub level: &'static str,
}

pub fn gauge(used: i64, allowed: i64) -> Gauge {
    let percent = if allowed <= 0 {
        100
    } else {
        ((used.max(0) * 100) / allowed).min(100) as u32
    };
    Gauge {
        used,
        allowed,
        percent,
        level: match percent {
            100 => "full",
            80..=99 => "warn",
            _ => "ok",
        },
    }
}

/// Input echoed in a message for people, as typed (the templates escape it for HTML): only
/// what is not visible is left out (control characters, and formatting ones such as a bidi
/// override that would make the message read backwards), and a runaway value is cut.
pub fn as_typed(input: &str) -> String {
    const MAX: usize = 60;
    let shown = || input.chars().filter(|c| crate::domain::policy::visible(*c));
    let mut out: String = shown().take(MAX).collect();
    if shown().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_and_gauges_scale_to_their_box() {
        let s = sparkline(&[0, 5, 10], "Calls");
        assert_eq!(s.points, "0.0,18.0 42.0,10.0 84.0,2.0");
        assert!(s.label.contains("15 in all"));
        assert_eq!(gauge(85, 100).level, "warn");
        assert_eq!(gauge(150, 100).percent, 100);
        assert_eq!(gauge(0, 0).level, "full");
    }

    #[test]
    fn moments_show_their_zone() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T04:18:19Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(when(&t), "2026-11-29 04:18 UTC");
        assert_eq!(
            relative(&t, t + chrono::Duration::days(40)),
            "2026-11-29 04:18 UTC"
        );
    }

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
