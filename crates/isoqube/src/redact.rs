//! Ground layer: keeping secrets out of logs and error messages. One place for
//! every connection URL (AMQP and MongoDB alike): [`redact_url`] shows a URL
//! with its password and secret query options hidden, [`Secrets`] scrubs them
//! out of a client library's messages. Uses `percent-encoding` (a password is
//! often percent-encoded in the URL and decoded in a driver's message).
//!
//! The URL is taken apart by hand rather than with `url::Url` on purpose: a
//! MongoDB URL lists several hosts (`db1:27017,db2:27018`), which is not a URL
//! the `url` crate (WHATWG rules) accepts, and a redactor must never fail.

use percent_encoding::percent_decode_str;

/// The hosts (and ports) of a URL only: no scheme, user, password, path or
/// query, for a message saying what cannot be reached.
///
/// ```
/// use isoqube::redact::url_hosts;
/// assert_eq!(url_hosts("amqp://app:s3cret@rabbit:5672/%2f"), "rabbit:5672");
/// assert_eq!(url_hosts("mongodb://app:s3cret@db1:27017,db2/isoqube?tls=true"), "db1:27017,db2");
/// assert_eq!(url_hosts("mongodb://127.0.0.1:1/?directConnection=true"), "127.0.0.1:1");
/// assert_eq!(url_hosts("not a url"), "(unnamed)");
/// ```
pub fn url_hosts(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "(unnamed)".to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if hosts.is_empty() {
        "(unnamed)".to_string()
    } else {
        hosts.to_string()
    }
}

/// The URL with its password (and any secret query option) replaced by `***`.
///
/// ```
/// use isoqube::redact::redact_url;
/// assert_eq!(redact_url("amqp://app:s3cret@rabbit:5672/%2f"), "amqp://app:***@rabbit:5672/%2f");
/// assert_eq!(
///     redact_url("mongodb://app:s3cret@db1:27017,db2/isoqube?tls=true"),
///     "mongodb://app:***@db1:27017,db2/isoqube?tls=true"
/// );
/// assert_eq!(redact_url("amqp://rabbit/prod"), "amqp://rabbit/prod");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL we understand: show nothing that could be a secret.
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_string(),
        };
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let (authority_and_path, query) = match rest.find('?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    let mut out = String::from(scheme);
    match authority_and_path.rfind('@') {
        Some(at) => {
            let userinfo = &authority_and_path[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority_and_path[at..]);
        }
        None => out.push_str(authority_and_path),
    }
    if let Some(query) = query {
        out.push('?');
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_secret_option(k) => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// Whether a URL query option carries a secret (`tlsCertificateKeyFilePassword`, ...).
fn is_secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.contains("token")
}

/// `s` percent-decoded (invalid UTF-8 replaced, never an error).
fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The secrets of one connection URL, to scrub out of a client library's
/// messages: the URL itself (shown redacted instead), its password and its
/// secret query values, each raw and percent-decoded.
#[derive(Clone, Default)]
pub struct Secrets {
    url: String,
    redacted: String,
    /// Longest first, so a secret that contains another is replaced whole.
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("url", &self.redacted)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The secrets of `url`.
    ///
    /// ```
    /// use isoqube::redact::Secrets;
    /// let s = Secrets::of("amqp://u:p%40ss@h/");
    /// assert_eq!(s.values(), ["p%40ss", "p@ss"]);
    /// assert_eq!(s.scrub("auth failed for amqp://u:p%40ss@h/ (p@ss)"), "auth failed for amqp://u:***@h/ (***)");
    /// assert!(Secrets::of("amqp://u@h/").values().is_empty());
    /// ```
    pub fn of(url: &str) -> Self {
        let mut values = Vec::new();
        let mut push = |v: &str| {
            if !v.is_empty() {
                values.push(v.to_string());
                let decoded = percent_decode(v);
                if decoded != v {
                    values.push(decoded);
                }
            }
        };
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (authority, query) = match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q + 1..]),
            None => (rest, ""),
        };
        if let Some(at) = authority.rfind('@') {
            if let Some((_, pass)) = authority[..at].split_once(':') {
                push(pass);
            }
        }
        for kv in query.split('&') {
            if let Some((k, v)) = kv.split_once('=') {
                if is_secret_option(k) {
                    push(v);
                }
            }
        }
        values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        values.dedup();
        Secrets {
            url: url.to_string(),
            redacted: redact_url(url),
            values,
        }
    }

    /// The secret values found (raw and decoded), longest first.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The URL as it may be shown.
    pub fn redacted_url(&self) -> &str {
        &self.redacted
    }

    /// `msg` with the URL shown redacted and every secret replaced by `***`.
    pub fn scrub(&self, msg: impl std::fmt::Display) -> String {
        let mut out = msg.to_string();
        if !self.url.is_empty() && out.contains(&self.url) {
            out = out.replace(&self.url, &self.redacted);
        }
        for s in &self.values {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_users_and_hosts_kept() {
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://app:p%40ss:w@rabbit.example.com:5671/prod"),
            "amqps://app:***@rabbit.example.com:5671/prod"
        );
        assert_eq!(redact_url("amqp://user@host/vh"), "amqp://user@host/vh");
        assert_eq!(redact_url("amqp://host:5672"), "amqp://host:5672");
        assert_eq!(redact_url("user:secret@host"), "***@host");
        assert!(!redact_url("amqp://a:b@c@host/").contains("b@c"));
        assert_eq!(
            redact_url("mongodb://app:p%40ss:w@db1:27017,db2:27018/isoqube?replicaSet=rs0"),
            "mongodb://app:***@db1:27017,db2:27018/isoqube?replicaSet=rs0"
        );
        assert_eq!(
            redact_url("mongodb+srv://ops:hunter2@cluster0.example.net/?tls=true"),
            "mongodb+srv://ops:***@cluster0.example.net/?tls=true"
        );
        assert_eq!(
            redact_url("mongodb://onlyuser@db/"),
            "mongodb://onlyuser@db/"
        );
        assert_eq!(
            redact_url("mongodb://db/?tls=true&tlsCertificateKeyFilePassword=k3y"),
            "mongodb://db/?tls=true&tlsCertificateKeyFilePassword=***"
        );
    }

    #[test]
    fn secret_query_values_and_decoded_passwords_are_scrubbed() {
        let url = "mongodb://app:p%40ss@db/?tlsCertificateKeyFilePassword=k3y";
        let s = Secrets::of(url);
        let msg = format!("cannot reach {url}: auth failed for app (p@ss), key k3y");
        let out = s.scrub(&msg);
        assert!(!out.contains("p@ss") && !out.contains("k3y"), "{out}");
        assert!(out.contains("mongodb://app:***@db/"), "{out}");
        assert!(!format!("{s:?}").contains("p%40ss"));
        let url = "mongodb://app:s3cr%40t@db:27017/";
        let msg = format!("failed to connect to {url}: bad auth for s3cr@t / s3cr%40t");
        let out = Secrets::of(url).scrub(&msg);
        assert!(!out.contains("s3cr"), "{out}");
        assert!(out.contains("mongodb://app:***@db:27017/"), "{out}");
    }
}
