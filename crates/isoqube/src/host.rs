//! Ground layer: this machine's identity (its host name), for records, headers
//! and addresses. Uses only `std`.

use std::sync::OnceLock;

/// This machine's host name (from `HOSTNAME` or the kernel), for records and headers.
///
/// ```
/// assert!(!isoqube::host::host_name().is_empty());
/// ```
pub fn host_name() -> String {
    host_name_ref().to_string()
}

/// [`host_name`], without a copy (it is read once per process).
pub fn host_name_ref() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}
