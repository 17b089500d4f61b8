//! Ground layer: endpoint addresses as MassTransit writes and reads them
//! (`sourceAddress`, `destinationAddress`, `faultAddress`, `responseAddress`,
//! `MT-Fault-InputAddress`): `rabbitmq://host/vhost/name` (the vhost left out
//! when it is `/`, `rabbitmqs://` for TLS, a non-default port kept), the
//! in-memory `loopback://localhost/name`, and the `queue:name` /
//! `exchange:name` short forms. Uses `percent-encoding` for the vhost.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

/// The address prefix of the in-process transport (MassTransit's in-memory
/// transport's form).
pub const LOOPBACK_BASE: &str = "loopback://localhost/";

/// The address prefix of the endpoints of the broker at `url`
/// (`amqp[s]://user:password@host:port/vhost`): `rabbitmq://host/` (or
/// `rabbitmq://host/vhost/`); the credentials never appear in it.
///
/// ```
/// use isoqube::wire::address::rabbitmq_base;
/// assert_eq!(rabbitmq_base("amqp://guest:guest@127.0.0.1:5672/%2f"), "rabbitmq://127.0.0.1/");
/// assert_eq!(rabbitmq_base("amqps://u:p@mq.example:5671/builds"), "rabbitmqs://mq.example/builds/");
/// assert_eq!(rabbitmq_base("amqp://mq:5673"), "rabbitmq://mq:5673/");
/// ```
pub fn rabbitmq_base(url: &str) -> String {
    let (tls, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("amqps"), rest),
        None => (false, url),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let default_port = if tls { "5671" } else { "5672" };
    let host = match host_port.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((h, port)) if !port.contains(']') && port == default_port => h,
        _ => host_port,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let path = path.split('?').next().unwrap_or_default();
    let vhost = percent_decode_str(path).decode_utf8_lossy();
    let scheme = if tls { "rabbitmqs" } else { "rabbitmq" };
    if vhost.is_empty() || vhost == "/" {
        format!("{scheme}://{host}/")
    } else {
        let vhost = utf8_percent_encode(&vhost, NON_ALPHANUMERIC);
        format!("{scheme}://{host}/{vhost}/")
    }
}

/// What an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An endpoint: the exchange and queue of one name.
    Endpoint,
    /// A queue only (`queue:name`, `?type=queue`).
    Queue,
    /// An exchange only (`exchange:name`, `?type=exchange`).
    Exchange,
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The broker host, when the address names one.
    pub host: Option<String>,
    /// The virtual host (`/` by default).
    pub vhost: String,
    /// The exchange or queue name.
    pub name: String,
    /// What it names.
    pub kind: Kind,
}

impl Address {
    /// Parses an address in any of MassTransit's forms; `None` for what is
    /// none of them.
    ///
    /// ```
    /// use isoqube::wire::address::{Address, Kind};
    /// let a = Address::parse("rabbitmq://mq/builds/linux-build?temporary=true").unwrap();
    /// assert_eq!((a.vhost.as_str(), a.name.as_str(), a.kind), ("builds", "linux-build", Kind::Endpoint));
    /// assert_eq!(Address::parse("exchange:Ns:Built").unwrap().kind, Kind::Exchange);
    /// assert_eq!(Address::parse("queue:linux-build").unwrap().name, "linux-build");
    /// ```
    pub fn parse(address: &str) -> Option<Self> {
        let address = address.trim();
        for (prefix, kind) in [("queue:", Kind::Queue), ("exchange:", Kind::Exchange)] {
            if let Some(name) = strip_prefix_ignore_case(address, prefix) {
                let name = name.split('?').next().unwrap_or_default();
                return (!name.is_empty() && !name.contains("//")).then(|| Address {
                    host: None,
                    vhost: "/".into(),
                    name: decode(name),
                    kind,
                });
            }
        }
        let (scheme, rest) = address.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(
            scheme.as_str(),
            "rabbitmq" | "rabbitmqs" | "loopback" | "isoqube"
        ) {
            return None;
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (host, path) = rest.split_once('/')?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (vhost, name) = match segments.as_slice() {
            [name] => ("/".to_string(), decode(name)),
            [vhost, name] if scheme.starts_with("rabbitmq") => (decode(vhost), decode(name)),
            _ => return None,
        };
        let kind = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| match pair.split_once('=') {
                Some(("type", v)) if v.eq_ignore_ascii_case("queue") => Some(Kind::Queue),
                Some(("type", v)) if v.eq_ignore_ascii_case("exchange") => Some(Kind::Exchange),
                _ => None,
            })
            .unwrap_or(Kind::Endpoint);
        Some(Address {
            host: Some(host.to_string()).filter(|h| !h.is_empty()),
            vhost,
            name,
            kind,
        })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_from_broker_urls() {
        for (url, base) in [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "rabbitmq://127.0.0.1/",
            ),
            (
                "amqp://guest:guest@127.0.0.1:5672/",
                "rabbitmq://127.0.0.1/",
            ),
            ("amqp://h", "rabbitmq://h/"),
            ("amqp://u:p@h:5673/%2f", "rabbitmq://h:5673/"),
            ("amqps://u:p@h:5671/v%2Fx", "rabbitmqs://h/v%2Fx/"),
            ("amqp://u:p@h/builds?heartbeat=10", "rabbitmq://h/builds/"),
            ("amqp://u:p@[::1]:5672/", "rabbitmq://[::1]/"),
        ] {
            assert_eq!(rabbitmq_base(url), base, "{url}");
            assert!(!rabbitmq_base(url).contains('@'));
        }
    }

    #[test]
    fn parses_every_form() {
        let a = Address::parse("rabbitmq://localhost/submit-order").unwrap();
        assert_eq!(a.host.as_deref(), Some("localhost"));
        assert_eq!((a.vhost.as_str(), a.name.as_str()), ("/", "submit-order"));
        assert_eq!(a.kind, Kind::Endpoint);
        let a = Address::parse("rabbitmq://mq:5673/v%2Fx/Ns:Built?type=exchange").unwrap();
        assert_eq!((a.vhost.as_str(), a.name.as_str()), ("v/x", "Ns:Built"));
        assert_eq!(a.kind, Kind::Exchange);
        let a = Address::parse("RabbitMQ://h/DESKTOP_bus_x?temporary=true").unwrap();
        assert_eq!(a.name, "DESKTOP_bus_x");
        let a = Address::parse("loopback://localhost/q").unwrap();
        assert_eq!(a.name, "q");
        let a = Address::parse("isoqube://host/q").unwrap();
        assert_eq!(a.name, "q");
        let a = Address::parse("Queue:build-queue").unwrap();
        assert_eq!((a.name.as_str(), a.kind), ("build-queue", Kind::Queue));
        let a = Address::parse("exchange:MassTransit:Fault--Ns:T--").unwrap();
        assert_eq!(a.name, "MassTransit:Fault--Ns:T--");
        assert_eq!(a.kind, Kind::Exchange);
        for bad in [
            "",
            "queue:",
            "http://h/q",
            "rabbitmq://h/",
            "rabbitmq://h/a/b/c",
            "q",
        ] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn written_addresses_parse_back() {
        let base = rabbitmq_base("amqp://guest:guest@127.0.0.1:5672/builds");
        let a = Address::parse(&format!("{base}linux-build")).unwrap();
        assert_eq!(
            (a.vhost.as_str(), a.name.as_str()),
            ("builds", "linux-build")
        );
    }
}
