//! Ground layer: MassTransit message type URNs (`urn:message:Ns:Type`), as
//! MassTransit compares them (the whole URN, ignoring ASCII case) and the
//! names it derives from them: the `Fault<T>` type and the exchange a message
//! type is published to (`Ns:Type`, `MassTransit:Fault--Ns:Type--`). Uses
//! nothing above `std`.
//!
//! A .NET nested type is written `Outer+Inner`, a closed generic
//! `Name[[Ns:Arg]]` (arguments are themselves `Ns:Type`, separated by `],[`).

/// The prefix of every message type URN.
pub const URN_PREFIX: &str = "urn:message:";

/// Whether two message type URNs name the same type: MassTransit matches the
/// whole URN, case-insensitively (`urn:message:Other.Ns:Build` is not
/// `urn:message:Ns:Build`).
///
/// ```
/// use isoqube::wire::urn::same_type;
/// assert!(same_type("urn:message:Builds:Pushed", "URN:MESSAGE:builds:pushed"));
/// assert!(!same_type("urn:message:Other:Pushed", "urn:message:Builds:Pushed"));
/// ```
pub fn same_type(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// A parsed message type URN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUrn<'a> {
    /// The namespace (`Isoqube.Contracts`); empty for a type in no namespace.
    pub namespace: &'a str,
    /// The type name, with any `+Nested` part and `[[...]]` arguments.
    pub name: &'a str,
}

impl<'a> MessageUrn<'a> {
    /// Parses `urn:message:Ns:Type` (the prefix in any case). The namespace
    /// ends at the last `:` outside generic brackets; `urn:message:Type` is a
    /// type in no namespace.
    ///
    /// ```
    /// use isoqube::wire::urn::MessageUrn;
    /// let u = MessageUrn::parse("urn:message:MassTransit:Fault[[Ns:Build]]").unwrap();
    /// assert_eq!((u.namespace, u.name), ("MassTransit", "Fault[[Ns:Build]]"));
    /// assert!(MessageUrn::parse("Ns:Build").is_none());
    /// ```
    pub fn parse(urn: &'a str) -> Option<Self> {
        let urn = urn.trim();
        let head = urn.get(..URN_PREFIX.len())?;
        if !head.eq_ignore_ascii_case(URN_PREFIX) {
            return None;
        }
        let rest = &urn[URN_PREFIX.len()..];
        let mut depth = 0i32;
        let mut split = None;
        for (i, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ':' if depth == 0 => split = Some(i),
                _ => {}
            }
            if depth < 0 {
                return None;
            }
        }
        if depth != 0 {
            return None;
        }
        let (namespace, name) = match split {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => ("", rest),
        };
        if name.is_empty() || name.starts_with('[') {
            return None;
        }
        Some(MessageUrn { namespace, name })
    }

    /// The type name without generic arguments (`Fault` of `Fault[[Ns:T]]`).
    pub fn base_name(&self) -> &'a str {
        self.name.split('[').next().unwrap_or(self.name)
    }

    /// The generic arguments, each as `Ns:Type` (empty for a plain type).
    ///
    /// ```
    /// use isoqube::wire::urn::MessageUrn;
    /// let u = MessageUrn::parse("urn:message:Ns:Pair[[A:X],[B:Y[[C:Z]]]]").unwrap();
    /// assert_eq!(u.arguments(), ["A:X", "B:Y[[C:Z]]"]);
    /// ```
    pub fn arguments(&self) -> Vec<&'a str> {
        let Some(start) = self.name.find("[[") else {
            return Vec::new();
        };
        let Some(inner) = self
            .name
            .get(start + 2..)
            .and_then(|s| s.strip_suffix("]]"))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let (mut depth, mut from) = (0i32, 0);
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => depth += 1,
                b']' if depth == 0 && inner[i..].starts_with("],[") => {
                    out.push(&inner[from..i]);
                    from = i + 3;
                    i += 2;
                }
                b']' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        out.push(&inner[from..]);
        out
    }

    /// The exchange MassTransit publishes this type to: [`Self::entity`],
    /// a generic's `[[...]]` written `--...--`
    /// (`MassTransit:Fault--Ns:T--`).
    ///
    /// ```
    /// use isoqube::wire::urn::MessageUrn;
    /// let u = MessageUrn::parse("urn:message:MassTransit:Fault[[Ns:T]]").unwrap();
    /// assert_eq!(u.exchange(), "MassTransit:Fault--Ns:T--");
    /// assert_eq!(MessageUrn::parse("urn:message:Ns:T").unwrap().exchange(), "Ns:T");
    /// ```
    pub fn exchange(&self) -> String {
        entity_name(self)
    }

    /// `Ns:Type`, as the URN writes it.
    pub fn entity(&self) -> String {
        if self.namespace.is_empty() {
            self.name.to_string()
        } else {
            format!("{}:{}", self.namespace, self.name)
        }
    }
}

/// The URN of `Fault<T>` for the message type `urn`
/// (`urn:message:MassTransit:Fault[[Ns:T]]`); `None` when `urn` is not a URN.
///
/// ```
/// use isoqube::wire::urn::fault_urn;
/// assert_eq!(
///     fault_urn("urn:message:Builds:Pushed").as_deref(),
///     Some("urn:message:MassTransit:Fault[[Builds:Pushed]]")
/// );
/// ```
pub fn fault_urn(urn: &str) -> Option<String> {
    let u = MessageUrn::parse(urn)?;
    Some(format!("{URN_PREFIX}MassTransit:Fault[[{}]]", u.entity()))
}

/// The exchange MassTransit publishes `Fault<T>` of the message type `urn`
/// to: its generic type name with `[[` `]]` written `--` (MassTransit's
/// entity name formatter), `MassTransit:Fault--Ns:T--`.
///
/// ```
/// use isoqube::wire::urn::fault_exchange;
/// assert_eq!(
///     fault_exchange("urn:message:Builds:Pushed").as_deref(),
///     Some("MassTransit:Fault--Builds:Pushed--")
/// );
/// ```
pub fn fault_exchange(urn: &str) -> Option<String> {
    let fault = fault_urn(urn)?;
    let u = MessageUrn::parse(&fault)?;
    Some(entity_name(&u))
}

/// The exchange name of a message type: `Ns:Type`, a generic's `[[...]]`
/// written `--...--` (checked against MassTransit for one argument, the
/// `Fault<T>` case; several are joined with `__`, unverified).
fn entity_name(u: &MessageUrn<'_>) -> String {
    let args = u.arguments();
    if args.is_empty() {
        return u.entity();
    }
    let inner: Vec<String> = args
        .iter()
        .map(|a| match MessageUrn::parse(&format!("{URN_PREFIX}{a}")) {
            Some(arg) => entity_name(&arg),
            None => a.to_string(),
        })
        .collect();
    let base = if u.namespace.is_empty() {
        u.base_name().to_string()
    } else {
        format!("{}:{}", u.namespace, u.base_name())
    };
    format!("{base}--{}--", inner.join("__"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_generic_and_case() {
        let u = MessageUrn::parse("urn:message:Isoqube.Topics:Outer+Inner").unwrap();
        assert_eq!(u.namespace, "Isoqube.Topics");
        assert_eq!(u.name, "Outer+Inner");
        let u = MessageUrn::parse("URN:Message:Ns:T").unwrap();
        assert_eq!((u.namespace, u.name), ("Ns", "T"));
        let u = MessageUrn::parse("urn:message:NoNamespace").unwrap();
        assert_eq!((u.namespace, u.name), ("", "NoNamespace"));
        let u = MessageUrn::parse("urn:message:MassTransit:Fault[[A.B:C+D]]").unwrap();
        assert_eq!(u.namespace, "MassTransit");
        assert_eq!(u.base_name(), "Fault");
        assert_eq!(u.arguments(), ["A.B:C+D"]);
        for bad in [
            "",
            "urn:message:",
            "urn:message:Ns:",
            "urn:message:Ns:T[[A:B]",
            "urn:message:Ns:T]]",
            "urn:other:Ns:T",
            "Ns:T",
        ] {
            assert_eq!(MessageUrn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn whole_urn_matches_case_insensitively() {
        assert!(same_type("urn:message:Ns:Build", "urn:message:ns:BUILD"));
        assert!(!same_type(
            "urn:message:Other.Ns:Build",
            "urn:message:Ns:Build"
        ));
        assert!(!same_type("urn:message:Ns:Build", "urn:message:Ns:Builds"));
        assert!(!same_type("Build", "urn:message:Ns:Build"));
    }

    #[test]
    fn fault_names() {
        assert_eq!(
            fault_urn("urn:message:Isoqube.Topics:LinuxBuild").as_deref(),
            Some("urn:message:MassTransit:Fault[[Isoqube.Topics:LinuxBuild]]")
        );
        assert_eq!(
            fault_exchange("urn:message:Isoqube.Topics:LinuxBuild").as_deref(),
            Some("MassTransit:Fault--Isoqube.Topics:LinuxBuild--")
        );
        assert_eq!(fault_urn("LinuxBuild"), None);
    }
}
