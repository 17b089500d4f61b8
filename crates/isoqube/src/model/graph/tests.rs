//! The graph of a definition: resolution of `after`, and what is refused.
use super::*;

fn known() -> BTreeSet<String> {
    ["Fetch", "Build", "Ship", "Undo"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn refused(steps: &[StepDef]) -> String {
    validate_steps("d", steps, &known())
        .expect_err("refused")
        .to_string()
}

#[test]
fn a_plain_list_is_a_chain() {
    let steps: Vec<StepDef> = ["Fetch", "Build", "Ship"].map(StepDef::from).to_vec();
    assert_eq!(
        resolve_graph(&steps).unwrap(),
        vec![vec![], vec![0], vec![1]]
    );
}

#[test]
fn several_steps_can_start_and_a_join_waits_for_all() {
    let steps = [
        StepDef::new("Fetch"),
        StepDef::new("Build").after(Vec::<String>::new()),
        StepDef::new("Ship").after(["Fetch", "Build", "Fetch"]),
    ];
    assert_eq!(
        resolve_graph(&steps).unwrap(),
        vec![vec![], vec![], vec![0, 1]],
        "duplicates in after count once"
    );
}

#[test]
fn what_is_refused_names_the_step() {
    let twice = [
        StepDef::new("Build").named("x"),
        StepDef::new("Ship").named("x"),
    ];
    assert!(refused(&twice).contains("steps 1 and 2 are both named 'x'"));
    // A repeated event is fine in a chain, not as the target of an `after`.
    let chain = [StepDef::new("Build"), StepDef::new("Build")];
    assert!(validate_steps("d", &chain, &known()).is_ok());
    let ambiguous = [
        StepDef::new("Build"),
        StepDef::new("Build"),
        StepDef::new("Ship").after(["Build"]),
    ];
    assert!(refused(&ambiguous).contains("runs after 'Build', which names steps 1 and 2"));
    let unknown_after = [StepDef::new("Fetch"), StepDef::new("Build").after(["Nope"])];
    assert!(refused(&unknown_after).contains("step 2 (Build) runs after 'Nope'"));
    let itself = [StepDef::new("Fetch").after(["Fetch"])];
    assert!(refused(&itself).contains("runs after itself"));
    let unknown_event = [StepDef::new("Fetch"), StepDef::new("Bild").named("b")];
    let msg = refused(&unknown_event);
    assert!(
        msg.contains("step 2 (b) of 'd' names unknown event 'Bild'"),
        "{msg}"
    );
    let mut undo = StepDef::new("Fetch");
    undo.compensate = Some("Nope".into());
    assert!(refused(&[undo.clone()]).contains("unknown compensation event 'Nope'"));
    undo.compensate = Some("Undo".into());
    assert!(validate_steps("d", &[undo], &known()).is_ok());
}

#[test]
fn a_cycle_is_named_in_running_order() {
    let steps = [
        StepDef::new("Fetch").after(Vec::<String>::new()),
        StepDef::new("Build").named("a").after(["c"]),
        StepDef::new("Build").named("b").after(["a"]),
        StepDef::new("Ship").named("c").after(["b"]),
    ];
    let msg = refused(&steps);
    assert!(
        msg.contains("the steps form a cycle: a -> b -> c -> a"),
        "{msg}"
    );
}

#[test]
fn a_two_step_cycle_is_named_not_reported_as_no_start() {
    // Every step waits for another, so none can start either; the cycle is
    // what the author must break, so it is what the refusal names.
    let steps = [
        StepDef::new("Fetch").after(["Build"]),
        StepDef::new("Build").after(["Fetch"]),
    ];
    let msg = refused(&steps);
    assert!(msg.contains("cycle: Fetch -> Build -> Fetch"), "{msg}");
    assert!(!msg.contains("no step can start"), "{msg}");
}

#[test]
fn steps_read_and_write_both_forms() {
    let steps: Vec<StepDef> = serde_json::from_str(
        r#"["Fetch", {"name": "jammy", "event": "Build", "after": ["Fetch"], "timeout": 1.5, "optional": true}]"#,
    )
    .unwrap();
    assert_eq!(steps[0], StepDef::new("Fetch"));
    assert_eq!(
        steps[1],
        StepDef::new("Build")
            .named("jammy")
            .after(["Fetch"])
            .timeout(Duration::from_millis(1500))
            .optional()
    );
    let again: Vec<StepDef> =
        serde_json::from_str(&serde_json::to_string(&steps).unwrap()).unwrap();
    assert_eq!(again, steps);
    for bad in [
        r#"[{"event": "B", "afterr": []}]"#,
        r#"[{"event": "B", "timeout": -1}]"#,
        "[3]",
    ] {
        assert!(serde_json::from_str::<Vec<StepDef>>(bad).is_err(), "{bad}");
    }
}
