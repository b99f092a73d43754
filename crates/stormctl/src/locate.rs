//! Which storm.toml stormctl reads: `--config`, else `$STORM_CONFIG`, else `config/storm.toml` of
//! the checkout it is run in (the current folder, or the nearest folder above it that has one).
//! Without this, a command typed in a checkout silently used the built-in default
//! `redis://127.0.0.1:6379/` — whatever other program's Redis answers there — instead of the
//! suite's. The choice is shown by `doctor`, `status` and every error, so it is never a guess.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where the config file came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// `--config`.
    Flag,
    /// `$STORM_CONFIG`.
    Env,
    /// `config/storm.toml` in the current folder or above.
    Found,
    /// No file: flags, env and built-in defaults.
    None,
}

/// The config file stormctl uses, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ConfigChoice {
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// How it was chosen.
    pub origin: Origin,
}

/// Where a checkout keeps the suite's config, relative to its root.
pub(crate) const CHECKOUT_CONFIG: &str = "config/storm.toml";

impl ConfigChoice {
    /// `--config`, else `$STORM_CONFIG` (when not empty), else the checkout's config found from
    /// the current folder.
    pub fn resolve(flag: Option<&Path>) -> Self {
        Self::resolve_in(flag, std::env::var_os("STORM_CONFIG"), std::env::current_dir().ok().as_deref())
    }

    /// [`ConfigChoice::resolve`] with the environment and the current folder given.
    pub fn resolve_in(flag: Option<&Path>, env: Option<OsString>, cwd: Option<&Path>) -> Self {
        if let Some(p) = flag {
            return Self { path: Some(p.to_owned()), origin: Origin::Flag };
        }
        if let Some(p) = env.filter(|v| !v.is_empty()) {
            return Self { path: Some(PathBuf::from(p)), origin: Origin::Env };
        }
        let found = cwd.and_then(|cwd| cwd.ancestors().map(|d| d.join(CHECKOUT_CONFIG)).find(|p| p.is_file()));
        match found {
            Some(p) => Self { path: Some(p), origin: Origin::Found },
            None => Self { path: None, origin: Origin::None },
        }
    }

    /// `config/storm.toml (--config)`, `/srv/storm/config/storm.toml (found from the current
    /// folder)`, or what is used instead of a file.
    pub fn describe(&self) -> String {
        match (&self.path, self.origin) {
            (Some(p), Origin::Flag) => format!("{} (--config)", p.display()),
            (Some(p), Origin::Env) => format!("{} (STORM_CONFIG)", p.display()),
            (Some(p), _) => format!("{} (found from the current folder)", p.display()),
            (None, _) => format!(
                "none (no --config, no STORM_CONFIG, no {CHECKOUT_CONFIG} in the current folder or above: \
                 flags, env and built-in defaults)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_the_nearest_checkout_config() {
        let root = std::env::temp_dir().join(format!("stormctl-locate-{}", std::process::id()));
        let deep = root.join("crates/x/src");
        std::fs::create_dir_all(&deep).expect("dirs");
        std::fs::create_dir_all(root.join("config")).expect("config dir");
        std::fs::write(root.join(CHECKOUT_CONFIG), "").expect("config");

        let found = ConfigChoice::resolve_in(None, None, Some(&deep));
        assert_eq!(found, ConfigChoice { path: Some(root.join(CHECKOUT_CONFIG)), origin: Origin::Found });
        assert!(found.describe().contains("found from the current folder"), "{}", found.describe());
        let env = ConfigChoice::resolve_in(None, Some("/etc/storm.toml".into()), Some(&deep));
        assert_eq!(env.origin, Origin::Env);
        let empty_env = ConfigChoice::resolve_in(None, Some("".into()), Some(&deep));
        assert_eq!(empty_env.origin, Origin::Found);
        let flag = ConfigChoice::resolve_in(Some(Path::new("a.toml")), Some("/etc/storm.toml".into()), Some(&deep));
        assert_eq!(flag, ConfigChoice { path: Some("a.toml".into()), origin: Origin::Flag });
        let _ = std::fs::remove_dir_all(&root);
        let none = ConfigChoice::resolve_in(None, None, Some(Path::new("/")));
        assert_eq!(none.origin, Origin::None);
        assert!(none.describe().starts_with("none"), "{}", none.describe());
    }
}
