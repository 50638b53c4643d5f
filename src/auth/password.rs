//! argon2id password hashing with the OWASP parameters (argon2 crate defaults: m=19 MiB, t=2, p=1).
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the username is unknown so that an unknown
/// user costs the same time as a wrong password.
pub fn dummy_hash() -> anyhow::Result<String> {
    use rand::RngExt;
    let mut random = [0u8; 24];
    rand::rng().fill(&mut random);
    hash(&hex::encode(random))
}

const MIN_CHARS: usize = 12;
/// NIST SP 800-63B asks for at least 64; the cap keeps argon2 and the guessability check cheap
/// for whatever a caller sends.
const MAX_CHARS: usize = 256;
/// zxcvbn's pattern matching grows fast with length. A password whose first 64 characters are
/// hard to guess is hard to guess, so only they are measured.
const MEASURED_CHARS: usize = 64;

/// For passwords set through the CLI and the API (NIST SP 800-63B): 12 to 256 characters and not
/// guessable. zxcvbn must rate it 3 or better (about 10^8 guesses against the argon2 hashes if
/// they leak), with the username and the product's own words counted as known to an attacker.
/// The refusal says why and how to do better, in zxcvbn's words.
pub fn check_strength(password: &str, username: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(format!(
            "The password must be at least {MIN_CHARS} characters long."
        ));
    }
    if chars > MAX_CHARS {
        return Err(format!(
            "The password must be at most {MAX_CHARS} characters long."
        ));
    }
    let measured: String = password.chars().take(MEASURED_CHARS).collect();
    let known = [username, "sandbox", "portal", "zscaler", "token", "admin"];
    let estimate = zxcvbn::zxcvbn(&measured, &known);
    if estimate.score() >= zxcvbn::Score::Three {
        return Ok(());
    }
    let mut message = String::from("This password is too easy to guess.");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            message.push_str(&format!(" {warning}"));
        }
        for suggestion in feedback.suggestions() {
            message.push_str(&format!(" {suggestion}"));
        }
    }
    if !message.contains("word") {
        message.push_str(" A few uncommon words make a strong password that is easy to type.");
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn weak_passwords_are_refused_with_a_reason_and_passphrases_pass() {
        use super::check_strength;
        for (weak, why) in [
            ("short", "at least 12"),
            ("password1234", "too easy to guess"),
            ("qwertyuiopasdf", "too easy to guess"),
            ("aaaaaaaaaaaaaaaa", "too easy to guess"),
            // The username is no secret.
            ("alice-alice-alice", "too easy to guess"),
            ("alice1234567890", "too easy to guess"),
            ("P@ssw0rd2024!", "too easy to guess"),
        ] {
            let refusal = check_strength(weak, "alice").expect_err(weak);
            assert!(refusal.contains(why), "{weak}: {refusal}");
        }
        assert!(
            check_strength(&"x".repeat(257), "alice")
                .expect_err("too long")
                .contains("at most 256")
        );
        for strong in [
            "correct horse battery staple",
            "a fresh and longer passphrase",
            "9f3Kq!x7Lw2#Zr",
        ] {
            assert_eq!(check_strength(strong, "alice"), Ok(()), "{strong}");
        }
    }

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", &h));
        assert!(!super::verify("wrong", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
