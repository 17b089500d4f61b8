//! The built-in run definitions, seeded on first start and editable
//! afterwards. They are the files in `definitions/` (the format
//! `controlcenter definitions apply -f` reads), built into the binary.

use isoqube::model::{parse_definition_file, FileFormat};
use isoqube::Definition;

/// The files, by name.
const FILES: [(&str, &str); 5] = [
    (
        "linux-release.toml",
        include_str!("../definitions/linux-release.toml"),
    ),
    (
        "windows-release.toml",
        include_str!("../definitions/windows-release.toml"),
    ),
    (
        "full-release.toml",
        include_str!("../definitions/full-release.toml"),
    ),
    (
        "production-release.toml",
        include_str!("../definitions/production-release.toml"),
    ),
    (
        "quick-check.toml",
        include_str!("../definitions/quick-check.toml"),
    ),
];

/// The definitions every fresh store gets.
///
/// ```
/// let defs = sample_build_server::definitions::builtin();
/// assert!(defs.iter().any(|d| d.name == "linux-release"));
/// ```
pub fn builtin() -> Vec<Definition> {
    FILES
        .iter()
        .filter_map(
            |(name, text)| match parse_definition_file(text, FileFormat::Toml) {
                Ok(def) => Some(def),
                // Built in and tested (see the tests below): never seen by a user.
                Err(e) => {
                    tracing::error!("built-in definition {name} does not parse: {e}");
                    None
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_validates_and_runs_its_builds_in_parallel() {
        let known = (crate::events::ALL.iter())
            .chain(crate::events::AWAITED)
            .map(|s| s.to_string())
            .collect();
        assert_eq!(builtin().len(), FILES.len(), "every file parses");
        for def in builtin() {
            def.validate(&known)
                .unwrap_or_else(|e| panic!("{}: {e}", def.name));
        }
        let linux = builtin()
            .into_iter()
            .find(|d| d.name == "linux-release")
            .expect("linux-release");
        let graph = isoqube::model::resolve_graph(&linux.steps).expect("graph");
        // The three builds wait only for the download; the collection for all three.
        assert_eq!(&graph[3..7], &[vec![2], vec![2], vec![2], vec![3, 4, 5]]);
        // Builds and deployments are undone when a later step fails.
        let undo: Vec<_> = linux
            .steps
            .iter()
            .filter_map(|s| Some((s.event.as_str(), s.compensate.as_deref()?)))
            .collect();
        assert_eq!(
            undo,
            [
                ("LinuxUbuntu2004Build", "RemoveLinuxArtifacts"),
                ("LinuxUbuntu2204Build", "RemoveLinuxArtifacts"),
                ("LinuxUbuntu2404Build", "RemoveLinuxArtifacts"),
                ("DeployToVm", "UndeployFromVm"),
                ("DeployToContainer", "RemoveContainerImage"),
            ]
        );
    }

    #[test]
    fn the_production_release_waits_a_day_for_approval_before_deploying() {
        let prod = builtin()
            .into_iter()
            .find(|d| d.name == "production-release")
            .expect("production-release");
        let at = |name: &str| prod.steps.iter().position(|s| s.name() == name);
        let approve = at("ApproveRelease").expect("the approval step");
        let wait = prod.steps[approve].wait.as_ref().expect("a wait step");
        assert_eq!(
            wait.timeout,
            Some(std::time::Duration::from_secs(24 * 3600))
        );
        let graph = isoqube::model::resolve_graph(&prod.steps).expect("graph");
        assert_eq!(
            graph[approve],
            vec![at("LinuxBuildCompleted").expect("builds")]
        );
        for deploy in ["DeployToVm", "DeployToContainer"] {
            assert_eq!(graph[at(deploy).expect(deploy)], vec![approve], "{deploy}");
        }
    }
}
