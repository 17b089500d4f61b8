//! Two events or two endpoints with the same name are refused at start-up, with
//! a message naming both definitions. (A binary of its own: the clashes it links
//! would break every other test.)

use isoqube::event::EventRegistration;
use isoqube::{consumer, consumer::ConsumerRegistration, Registry, StepContext};

mod billing {
    /// An invoice was paid.
    #[isoqube::event(name = "Paid")]
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Paid {}
}

mod shipping {
    /// A parcel was paid for (same name as billing's event: a clash).
    #[isoqube::event(name = "Paid")]
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Paid {}
}

#[consumer(endpoint = "notify")]
async fn notify_billing(_ev: billing::Paid, _ctx: StepContext) -> anyhow::Result<()> {
    Ok(())
}

#[consumer(endpoint = "notify")]
async fn notify_shipping(_ev: shipping::Paid, _ctx: StepContext) -> anyhow::Result<()> {
    Ok(())
}

#[test]
fn two_events_with_one_name_are_refused_naming_both() {
    let err = Registry::linked().expect_err("a clash").to_string();
    assert!(err.contains("two events are named 'Paid'"), "{err}");
    assert!(err.contains("billing") && err.contains("shipping"), "{err}");
    assert!(err.contains("registry_clashes.rs"), "{err}");
}

#[test]
fn two_consumers_on_one_endpoint_are_refused_naming_both() {
    // Only billing's event, so the event clash does not hide the endpoint clash.
    let events = inventory::iter::<EventRegistration>
        .into_iter()
        .map(|r| r.info)
        .filter(|e| e.module_path.ends_with("billing"));
    let consumers = inventory::iter::<ConsumerRegistration>.into_iter();
    let err = Registry::from_parts(events, consumers)
        .expect_err("a clash")
        .to_string();
    assert!(err.contains("two consumers use endpoint 'notify'"), "{err}");
    assert!(
        err.contains("notify_billing") && err.contains("notify_shipping"),
        "{err}"
    );
}

#[tokio::test]
async fn a_service_does_not_start_on_a_clash() {
    let err = isoqube::Service::builder("clash")
        .transport(isoqube::InProcessTransport::new())
        .store(
            isoqube::SqliteStore::open(
                std::env::temp_dir().join(format!("isoqube-clash-{}.db", uuid::Uuid::new_v4())),
            )
            .await
            .expect("store"),
        )
        .start()
        .await
        .err()
        .expect("start-up refused")
        .to_string();
    assert!(err.contains("'Paid'"), "{err}");
}
