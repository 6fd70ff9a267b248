//! Loading and checking the TOML configuration file.
//!
//! Every error names the file, the key and what is allowed, so the operator
//! can fix it without reading code.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use locus_sip::config::{Invalid, SipConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// `[sip]`: the SIP server.
    pub(crate) sip: SipConfig,
    /// `[e911]`: the E911 manager.
    pub(crate) e911: locus_e911::config::E911Config,
    /// `[log]`: logging.
    pub(crate) log: LogConfig,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// A tracing filter: `info`, `debug`, `locus_sip=debug,info`...
    pub(crate) level: String,
    /// `text` or `json`.
    pub(crate) format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why a configuration file cannot be used.
#[derive(Debug)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// Not valid TOML.
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// A key that does not exist, or a value of the wrong type.
    Key {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// Values out of range or inconsistent.
    Invalid {
        file: PathBuf,
        problems: Vec<Invalid>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { file, error } => {
                write!(f, "{}: cannot read the file: {error}", file.display())
            }
            Self::Syntax {
                file,
                line,
                message,
            } => write!(f, "{}:{line}: not valid TOML: {message}", file.display()),
            Self::Key { file, key, message } => {
                write!(f, "{}: key `{key}`: {message}", file.display())
            }
            Self::Invalid { file, problems } => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(
                        f,
                        "{}: key `{}`: value {} is not allowed; allowed: {}",
                        file.display(),
                        p.key,
                        p.value,
                        p.allowed
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates a configuration file.
    pub(crate) fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|error| ConfigError::Read {
            file: file.to_owned(),
            error,
        })?;
        Self::parse(file, &text)
    }

    /// Parses and validates configuration text read from `file`.
    pub(crate) fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
            file: file.to_owned(),
            line: e.span().map_or(1, |s| line_of(s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().trim().to_owned();
            // serde_path_to_error's path already ends at the offending key.
            let key = match message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
            {
                Some(field) if path == "." => field.to_owned(),
                _ => path,
            };
            let at = inner.span().map(|s| line_of(s.start));
            ConfigError::Key {
                file: file.to_owned(),
                key,
                message: match at {
                    Some(line) => format!("{message} (line {line})"),
                    None => message,
                },
            }
        })?;
        let mut problems = config.sip.validate();
        problems.extend(config.e911.validate().into_iter().map(|p| Invalid {
            key: p.key,
            value: p.value,
            allowed: p.allowed,
        }));
        if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
            problems.push(Invalid {
                key: "log.level".into(),
                value: format!("{:?}", config.log.level),
                allowed:
                    "error, warn, info, debug, trace, or a filter like \"locus_sip=debug,info\""
                        .into(),
            });
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("t.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = parse("[sip.limits]\nmax_headerz = 3\n").unwrap_err();
        assert!(
            e.starts_with("t.toml: key `sip.limits.max_headerz`: unknown field"),
            "{e}"
        );
        assert!(e.contains("max_headers"), "lists the allowed keys: {e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse("[sip]\nlisten = \"udp:127.0.0.1:5060\"\n").unwrap_err();
        assert!(e.starts_with("t.toml: key `sip.listen`"), "{e}");
    }

    #[test]
    fn e6_send_location_is_checked_by_key() {
        let trunk = |prefix: &str, send: &str| {
            format!(
                "[[sip.trunks]]\nname = \"t{prefix}\"\nprofile = \"byoc\"\n\
                 carrier_addresses = [\"127.0.0.9\"]\nemergency_device = true\n\
                 prefix = \"{prefix}\"\nsend_location = {send}\n"
            )
        };
        let e = parse(&trunk("91", "\"yes\"")).unwrap_err();
        assert!(
            e.starts_with("t.toml: key `sip.trunks[0].send_location`"),
            "{e}"
        );
        let e = parse(&(trunk("911", "true") + &trunk("91", "true"))).unwrap_err();
        assert!(
            e.contains("key `sip.trunks[0].send_location`: value true is not allowed"),
            "{e}"
        );
        parse(&(trunk("911", "false") + &trunk("91", "true"))).unwrap();
    }

    #[test]
    fn out_of_range_names_key_and_range() {
        let e = parse("[sip.limits]\nmax_segments_per_message = 0\n").unwrap_err();
        assert_eq!(
            e,
            "t.toml: key `sip.limits.max_segments_per_message`: value 0 is not allowed; allowed: 1 to 64"
        );
    }

    #[test]
    fn syntax_error_gives_the_line() {
        let e = parse("[sip]\nlisten = [\n").unwrap_err();
        assert!(e.starts_with("t.toml:"), "{e}");
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn example_file_is_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/locus.example.toml"
        );
        Config::load(Path::new(path)).unwrap();
    }
}
