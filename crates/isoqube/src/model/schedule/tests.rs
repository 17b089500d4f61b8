//! Schedules: due times, daylight saving, cron rules, validation.
use super::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

#[test]
fn intervals_are_epoch_aligned() {
    let s = Schedule::new("i", When::Interval { every_secs: 60 });
    assert_eq!(
        s.next_after(t("2026-01-01T00:00:30Z")).unwrap(),
        Some(t("2026-01-01T00:01:00Z"))
    );
    assert_eq!(
        s.next_after(t("2026-01-01T00:01:00Z")).unwrap(),
        Some(t("2026-01-01T00:02:00Z"))
    );
    assert_eq!(
        s.last_due_in(t("2026-01-01T00:00:30Z"), t("2026-01-01T00:05:10Z"))
            .unwrap(),
        Some(t("2026-01-01T00:05:00Z"))
    );
}

#[test]
fn once_is_due_once() {
    let s = Schedule::new(
        "o",
        When::Once {
            at: t("2026-03-01T12:00:00Z"),
        },
    );
    assert_eq!(
        s.next_after(t("2026-03-01T11:00:00Z")).unwrap(),
        Some(t("2026-03-01T12:00:00Z"))
    );
    assert_eq!(s.next_after(t("2026-03-01T12:00:00Z")).unwrap(), None);
}

#[test]
fn cron_fields_and_zones() {
    let every_second = Cron::parse("* * * * * *").unwrap();
    assert_eq!(
        every_second.next_after(t("2026-01-01T00:00:00Z"), chrono_tz::UTC),
        Some(t("2026-01-01T00:00:01Z"))
    );
    let weekly = Cron::parse("30 8 * * sun").unwrap();
    assert_eq!(
        weekly.next_after(t("2026-11-23T00:00:00Z"), chrono_tz::UTC),
        Some(t("2026-11-29T08:30:00Z"))
    );
    // 08:30 in New York in winter is 13:30 UTC.
    assert_eq!(
        weekly.next_after(t("2026-11-23T00:00:00Z"), chrono_tz::America::New_York),
        Some(t("2026-11-29T13:30:00Z"))
    );
    let monthly = Cron::parse("0 0 1 jan,jul *").unwrap();
    assert_eq!(
        monthly.next_after(t("2026-02-10T00:00:00Z"), chrono_tz::UTC),
        Some(t("2026-07-01T00:00:00Z"))
    );
    for bad in [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "*/0 * * * *",
        "x * * * *",
    ] {
        assert!(Cron::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn daylight_saving_gap_is_skipped() {
    // 02:30 does not exist in Paris on 2026-03-29 (clocks jump 02:00 -> 03:00).
    let c = Cron::parse("30 2 * * *").unwrap();
    assert_eq!(
        c.next_after(t("2026-03-28T12:00:00Z"), chrono_tz::Europe::Paris),
        Some(t("2026-03-30T00:30:00Z"))
    );
}

#[test]
fn repeated_hour_fires_once_for_a_fixed_hour_twice_for_every_hour() {
    // Paris, 2026-10-25: 03:00 CEST -> 02:00 CET, so 02:30 happens at 00:30Z
    // and again at 01:30Z.
    let paris = chrono_tz::Europe::Paris;
    let daily = Cron::parse("30 2 * * *").unwrap();
    let first = daily.next_after(t("2026-10-24T12:00:00Z"), paris);
    assert_eq!(first, Some(t("2026-10-25T00:30:00Z")));
    assert_eq!(
        daily.next_after(t("2026-10-25T00:30:00Z"), paris),
        Some(t("2026-10-26T01:30:00Z")),
        "the second 02:30 of the day is not a new due time"
    );
    let hourly = Cron::parse("30 * * * *").unwrap();
    assert_eq!(
        hourly.next_after(t("2026-10-25T00:30:00Z"), paris),
        Some(t("2026-10-25T01:30:00Z"))
    );
}

#[test]
fn cron_keeps_the_classic_rules_around_croner() {
    // `from/step` means from..=max, as it always did here.
    let c = Cron::parse("5/20 * * * *").unwrap();
    assert_eq!(
        c.next_after(t("2026-01-01T00:06:00Z"), chrono_tz::UTC),
        Some(t("2026-01-01T00:25:00Z"))
    );
    // Several fixed hours: the repeated 02:30 fires on the first pass only.
    let paris = chrono_tz::Europe::Paris;
    let two_hours = Cron::parse("30 2,3 * * *").unwrap();
    assert_eq!(
        two_hours.next_after(t("2026-10-25T00:30:00Z"), paris),
        Some(t("2026-10-25T02:30:00Z")),
        "03:30 CET follows the first 02:30, not the second"
    );
    // A time given with a fraction of a second: the next whole second.
    let every_second = Cron::parse("* * * * * *").unwrap();
    assert_eq!(
        every_second.next_after(t("2026-01-01T00:00:00.5Z"), chrono_tz::UTC),
        Some(t("2026-01-01T00:00:01Z"))
    );
}

#[test]
fn cron_errors_name_the_expression_and_the_field() {
    for (bad, says) in [
        ("61 * * * *", "cron expression '61 * * * *': minute '61'"),
        ("0 0 * 13 *", "month '13'"),
        ("0 0 * * 9", "day of week '9'"),
        ("mon * * * *", "'mon' is not a minute"),
        ("0 0 * * jan", "'jan' is not a day of week"),
        ("0 0 * mon *", "'mon' is not a month"),
        ("@daily", "has 1 fields"),
        ("* * * * * * *", "has 7 fields"),
    ] {
        let e = Cron::parse(bad).map(|_| ()).unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
    let s = Schedule::new(
        "s",
        When::Cron {
            expr: "0 25 * * *".into(),
            tz: "UTC".into(),
        },
    );
    let e = s.timing().unwrap_err().to_string();
    assert!(e.contains("schedule 's'") && e.contains("hour '25'"), "{e}");
}

#[test]
fn definitions_with_bad_schedules_are_refused() {
    let mut def = Definition::new("d", ["A"]);
    def.schedules = vec![Schedule::new(
        "s",
        When::Cron {
            expr: "* * *".into(),
            tz: "UTC".into(),
        },
    )];
    assert!(validate(&def)
        .unwrap_err()
        .to_string()
        .contains("5 (min hour"));
    def.schedules = vec![Schedule::new(
        "s",
        When::Cron {
            expr: "0 * * * *".into(),
            tz: "Mars/Olympus".into(),
        },
    )];
    assert!(validate(&def)
        .unwrap_err()
        .to_string()
        .contains("Mars/Olympus"));
    def.schedules = vec![
        Schedule::new("s", When::Interval { every_secs: 5 }),
        Schedule::new("s", When::Interval { every_secs: 6 }),
    ];
    assert!(validate(&def)
        .unwrap_err()
        .to_string()
        .contains("two schedules"));
    def.schedules = vec![Schedule::new("s", When::Interval { every_secs: 0 })];
    assert!(validate(&def).is_err());
    def.schedules = vec![Schedule::new(
        "s",
        When::Interval {
            every_secs: MAX_INTERVAL_SECS + 1,
        },
    )];
    assert!(validate(&def)
        .unwrap_err()
        .to_string()
        .contains("every_secs must be 1 to"));
    def.schedules.clear();
    def.webhook = Some(Webhook {
        id: "hook-1234".into(),
        secret: "short".into(),
    });
    assert!(validate(&def).unwrap_err().to_string().contains("secret"));
}

#[test]
fn interval_seconds_may_be_written_as_whole_floats() {
    let read = |v: &str| {
        serde_json::from_str::<When>(&format!(r#"{{"kind":"interval","every_secs":{v}}}"#))
    };
    assert_eq!(read("60").unwrap(), When::Interval { every_secs: 60 });
    assert_eq!(read("60.0").unwrap(), When::Interval { every_secs: 60 });
    for bad in ["60.5", "-1", "-1.0", "1e300"] {
        assert!(read(bad).is_err(), "{bad}");
    }
}
