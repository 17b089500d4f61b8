//! A consumer without `service = "..."` belongs to the service its module (or
//! the nearest module above it) declares with `isoqube::service!`; an explicit
//! name wins; one module declaring two names is refused at start-up naming
//! both. (A binary of its own: its declarations would rename every other
//! test's consumers.)

use isoqube::consumer::ServiceDeclaration;
use isoqube::event::EventRegistration;
use isoqube::{consumer, consumer::ConsumerRegistration, registry::Selection, Registry};

/// Something happened.
#[isoqube::event]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Happened {}

// The crate root's declaration covers every module that declares none.
isoqube::service!("shop");

#[consumer]
async fn at_root(_ev: Happened) -> anyhow::Result<()> {
    Ok(())
}

mod billing {
    use super::Happened;

    isoqube::service!("billing");

    #[isoqube::consumer]
    async fn invoice(_ev: Happened) -> anyhow::Result<()> {
        Ok(())
    }

    #[isoqube::consumer(service = "ops")]
    async fn explicit(_ev: Happened) -> anyhow::Result<()> {
        Ok(())
    }

    pub mod refunds {
        use super::Happened;

        #[isoqube::consumer]
        async fn refund(_ev: Happened) -> anyhow::Result<()> {
            Ok(())
        }

        pub mod audit {
            use super::Happened;

            isoqube::service!("audit");
            // The same name again adds nothing and is no clash.
            isoqube::service!("audit");

            #[isoqube::consumer]
            async fn audit_refund(_ev: Happened) -> anyhow::Result<()> {
                Ok(())
            }
        }
    }
}

// `billing_extra` starts like `billing` but is not inside it.
mod billing_extra {
    #[isoqube::consumer]
    async fn extra(_ev: super::Happened, _ctx: isoqube::StepContext) -> anyhow::Result<()> {
        Ok(())
    }
}

fn service_of(registry: &Registry, endpoint: &str) -> &'static str {
    match registry.consumers().find(|c| c.endpoint_name() == endpoint) {
        Some(c) => c.service,
        None => panic!("no endpoint {endpoint}"),
    }
}

#[test]
fn consumers_inherit_the_nearest_declaration_and_an_explicit_name_wins() {
    let registry = Registry::linked().expect("registry");
    assert_eq!(service_of(&registry, "at-root"), "shop");
    assert_eq!(service_of(&registry, "invoice"), "billing");
    assert_eq!(service_of(&registry, "refund"), "billing", "nested module");
    assert_eq!(
        service_of(&registry, "audit-refund"),
        "audit",
        "nearest wins"
    );
    assert_eq!(service_of(&registry, "explicit"), "ops", "explicit wins");
    assert_eq!(service_of(&registry, "extra"), "shop", "on :: boundaries");
}

#[test]
fn selecting_a_service_picks_its_inherited_consumers() {
    let registry = Registry::linked().expect("registry");
    let picked = registry
        .select(&Selection::Services(vec!["billing".into()]))
        .expect("billing is known");
    let mut endpoints: Vec<String> = picked.iter().map(|c| c.endpoint_name()).collect();
    endpoints.sort();
    assert_eq!(endpoints, ["invoice", "refund"]);
    // Building the registry again resolves to the same registrations.
    let again = Registry::linked().expect("registry");
    let invoice = |r: &Registry| {
        r.consumers()
            .find(|c| c.endpoint_name() == "invoice")
            .map(|c| c as *const ConsumerRegistration)
    };
    assert_eq!(invoice(&registry), invoice(&again));
}

#[test]
fn without_declarations_a_consumer_keeps_the_crate_name() {
    let events = inventory::iter::<EventRegistration>
        .into_iter()
        .map(|r| r.info);
    let consumers = inventory::iter::<ConsumerRegistration>.into_iter();
    let registry = Registry::from_parts_with(events, consumers, []).expect("registry");
    assert_eq!(service_of(&registry, "invoice"), env!("CARGO_PKG_NAME"));
    assert_eq!(service_of(&registry, "explicit"), "ops");
}

static LINUX: ServiceDeclaration = ServiceDeclaration {
    module: "my_crate::builds",
    name: "linux-pool",
    location: "src/builds.rs:1",
};
static WINDOWS: ServiceDeclaration = ServiceDeclaration {
    module: "my_crate::builds",
    name: "windows-pool",
    location: "src/builds.rs:2",
};

#[test]
fn one_module_declaring_two_services_is_refused_naming_both() {
    let err = Registry::from_parts_with([], [], [&LINUX, &WINDOWS])
        .expect_err("a clash")
        .to_string();
    assert!(
        err.contains("module my_crate::builds declares two services"),
        "{err}"
    );
    assert!(
        err.contains("'linux-pool' (src/builds.rs:1)")
            && err.contains("'windows-pool' (src/builds.rs:2)"),
        "{err}"
    );
}

#[test]
fn a_declaration_elsewhere_does_not_apply() {
    // Declarations from another crate's modules leave these consumers alone.
    let consumers = inventory::iter::<ConsumerRegistration>.into_iter();
    let events = inventory::iter::<EventRegistration>
        .into_iter()
        .map(|r| r.info);
    let registry = Registry::from_parts_with(events, consumers, [&LINUX]).expect("registry");
    assert_eq!(service_of(&registry, "at-root"), env!("CARGO_PKG_NAME"));
}
