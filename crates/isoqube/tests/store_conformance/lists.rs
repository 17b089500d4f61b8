//! The list that instantiates every case per store (`store_sqlite.rs`,
//! `store_mongo.rs`); `store_sqlite.rs` checks it names every case defined
//! under `tests/store_conformance/`.

/// Instantiates every case as a test; `$fixture` is an async fn returning a
/// [`Fixture`] with a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:path) => {
        $crate::conformance_tests!(@each $fixture;
            definitions_crud, runs_insert_get_list, chain_outcomes, retried_calls_are_recognised, unrecorded_claims,
            join_race, graph_records_round_trip, compensation_race, cancel_and_compensate,
            fail_and_resume,
            cancel_and_abort, concurrent_claims, concurrent_claims_distinct_endpoints,
            concurrent_completes, wait_for_change,
            services, topics, logs, not_due_steps_are_refused, run_ids_by_prefix, runs_search, runs_waiting, corrupt_document, corrupt_run_message_is_dead_lettered, schedule_ticks,
            priority_is_additive, delete_finished_runs_only, timers_due_are_found_by_the_index,
            timer_raced_by_every_handle_fires_once, signal_raced_by_every_handle_completes_once);
    };
    (@each $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                store_conformance::$name($fixture().await).await;
            }
        )*
    };
}
