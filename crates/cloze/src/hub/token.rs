//! Hugging Face access tokens: where they come from (`HF_TOKEN`, the system's credential store,
//! the token file the Python tools write) and where a token entered once is kept — the operating
//! system's credential store, never a project, the cache or a log.

use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};

/// An access token. It is sent as a bearer header and never printed: `Debug` shows `Token(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }

    /// `HF_TOKEN`, else the token saved in the system's credential store ([`TokenStore`]), else
    /// the token file the Python tools write (`$HF_HOME/token`, by default
    /// `~/.cache/huggingface/token`).
    pub fn from_env() -> Option<Self> {
        if let Some(t) = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            return Some(Self(t.trim().to_string()));
        }
        if let Some(t) = TokenStore::system().ok().and_then(|s| s.load().ok().flatten()) {
            return Some(t);
        }
        let home = std::env::var_os("HF_HOME").map(PathBuf::from).or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("huggingface"))
        })?;
        let t = std::fs::read_to_string(home.join("token")).ok()?;
        let t = t.trim();
        (!t.is_empty()).then(|| Self(t.to_string()))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Where a token entered once is kept: the operating system's credential store (Secret Service on
/// Linux, Keychain on macOS, Credential Manager on Windows) — never a project, the cache or a log.
pub struct TokenStore {
    entry: keyring::Entry,
}

fn keyring_err(e: keyring::Error) -> Error {
    // keyring's errors never contain the secret.
    Error::Hub {
        kind: ErrorKind::Unavailable,
        message:
            "the system's credential store is not available; set the HF_TOKEN environment variable instead"
                .into(),
        source: Some(Box::new(e)),
    }
}

impl TokenStore {
    /// The entry Cloze Studio uses in the system's credential store.
    pub fn system() -> Result<Self> {
        Ok(Self { entry: keyring::Entry::new("cloze-studio", "huggingface-token").map_err(keyring_err)? })
    }

    pub fn save(&self, token: &Token) -> Result<()> {
        self.entry.set_password(&token.0).map_err(keyring_err)
    }

    pub fn load(&self) -> Result<Option<Token>> {
        match self.entry.get_password() {
            Ok(t) => Ok(Some(Token(t))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }

    /// Forgets the token; `false` when none was saved.
    pub fn delete(&self) -> Result<bool> {
        match self.entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_the_credential_store() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let store = TokenStore::system().unwrap();
        assert_eq!(store.load().unwrap(), None);
        assert!(!store.delete().unwrap());
        store.save(&Token::new("hf_abc")).unwrap();
        assert_eq!(store.load().unwrap(), Some(Token::new("hf_abc")));
        assert!(store.delete().unwrap());
        assert_eq!(store.load().unwrap(), None);
    }
}
