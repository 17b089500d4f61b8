//! The lists that instantiate the scenarios per pair. `embedded.rs` checks
//! that they name every scenario defined under `tests/suite/`, and that each
//! pair's binary instantiates them.

/// Instantiates every scenario as a test, with `$pair` (an async fn returning a
/// `Pair`) providing the transport and the store.
#[macro_export]
macro_rules! behaviour_tests {
    ($pair:path) => {
        $crate::behaviour_tests!(@each $pair;
            chain_rule, fan_out, competing_consumers, idempotent_redelivery, step_not_due_is_refused, step_start_recorded,
            crash_between_record_and_publish, retry_then_succeed, retry_exhausted, cancel,
            resume, rerun, invalid_definitions, malformed_message, bad_run_headers_are_refused, error_queue_browse_and_take, schedules_start_one_run_per_due_time,
            missed_due_times_run_once_or_skip, graceful_shutdown,
            grace_expiry_counts_the_attempt, instance_killed_mid_step, redelivered_attempt_says_why, lost_store_answers, service_registration,
            graph_branches_run_in_parallel_and_join_once, graph_optional_failure_lets_the_run_go_on,
            graph_step_timeout, graph_default_step_timeout, graph_resume_republishes_every_failed_branch, graph_definitions_are_validated,
            cancel_tells_the_running_step, cancel_drops_a_stubborn_step_after_the_grace,
            compensation_undoes_a_diamond_in_reverse_order, compensation_retried_then_succeeds,
            compensation_failed_then_resumed, compensation_after_a_hung_step_times_out,
            cancel_compensates_only_when_asked, compensation_after_a_step_nobody_consumes,
            priority_overtakes_backlog, priority_out_of_range_is_refused,
            wait_signal_completes_the_step, wait_early_signal_is_kept_until_due,
            wait_signal_nothing_waits_for_is_refused, wait_correlated_by_key,
            wait_timeout_compensates, wait_optional_timeout_goes_on,
            wait_deadline_passed_while_down_fires_on_start, wait_signal_published_on_the_broker,
            wait_signal_nothing_waits_for_is_skipped_with_a_reason, wait_delay_step_fires_on_time,
            wait_delayed_start_fires_on_time, a_step_that_kills_its_process_every_time_ends_in_error,
            a_far_off_retry_survives_a_restart, far_off_retries_run_out_as_retries_do);

    };
    (@each $pair:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name(suite::Harness::new($pair().await)).await;
            }
        )*
    };
}
