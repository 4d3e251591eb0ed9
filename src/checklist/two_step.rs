//! The runbooks of a two-step hop (issue 27, `docs/design/two-step.md` §3).
//!
//! Step 1 is the normal hop with the three control-plane components started with
//! `--emulated-version=1.N`: kubeadm renders them from node-local patches
//! (`kubeadm upgrade apply|node --patches DIR`, a documented kubeadm input), so the
//! `kubeadm-config` ConfigMap, a YAML document inside a string that no tool on a node
//! edits safely, stays as it is. Step 2 brings nothing: it deletes the flag from the
//! static-pod manifests, one control plane and one component at a time, each verified, as
//! upstream's own kind script does.

use super::{
    ChecklistInput, Ctx, Out, Step, comment, config_backup_step, etcd_restore, quote,
    removed_apis_step, snapshot_step, step,
};
use crate::catalog::{Catalog, Version};
use crate::etcd::EtcdCluster;
use crate::manifest::Phase;

/// Where step 1 keeps the kubeadm patches on every control plane.
pub const PATCH_DIR: &str = "/var/lib/airlock/emulation-patches";
/// Where kubeadm keeps the static-pod manifests.
const MANIFESTS: &str = "/etc/kubernetes/manifests";

/// The flag as it appears on a command line.
pub fn flag(emulated: &str) -> String {
    format!("--emulated-version={emulated}")
}

/// A kubeadm patch file name: `target[suffix][+patchtype].extension`, patch type `json`
/// (https://kubernetes.io/docs/reference/setup-tools/kubeadm/generated/kubeadm_upgrade/kubeadm_upgrade_apply/,
/// `--patches`).
fn patch_file(component: &str) -> String {
    format!("{PATCH_DIR}/{component}+json.json")
}

/// The JSON patch that appends the flag to the static pod's command.
fn patch_body(emulated: &str) -> String {
    serde_json::json!([{
        "op": "add",
        "path": "/spec/containers/0/command/-",
        "value": flag(emulated),
    }])
    .to_string()
}

fn manifest(component: &str) -> String {
    quote(&format!("{MANIFESTS}/{component}.yaml"))
}

/// Turn a hop's checklist into step 1's: write the patches before the first control
/// plane, have kubeadm apply them on every control plane, verify the emulation after.
pub fn emulate_in_step1(steps: &mut Vec<Step>, emulated: &str, components: &[String]) {
    let patches = format!("--patches {}", quote(PATCH_DIR));
    for s in steps.iter_mut() {
        if s.id == "cp1.apply" || s.id == "cp.upgrade" {
            for c in s
                .commands
                .iter_mut()
                .filter(|c| c.starts_with("kubeadm upgrade "))
            {
                c.push(' ');
                c.push_str(&patches);
            }
            s.title
                .push_str(&format!(" (with {} on the control plane)", flag(emulated)));
        }
    }
    let mut cmds = vec![format!("mkdir -p {}", quote(PATCH_DIR))];
    for c in components {
        cmds.push(format!(
            "printf '%s\\n' {} > {}",
            quote(&patch_body(emulated)),
            quote(&patch_file(c))
        ));
    }
    cmds.push(format!("ls {}", quote(PATCH_DIR)));
    let names: Vec<String> = components
        .iter()
        .map(|c| format!("{c}+json.json"))
        .collect();
    let write = step(
        "pre.emulation-patches",
        format!(
            "Every control plane: write the kubeadm patches that start {} with {}",
            components.join(", "),
            flag(emulated)
        ),
        &super::refs(&cmds),
        Some(&format!(
            "{PATCH_DIR} holds exactly {} (kubelet and kube-proxy take no such flag)",
            names.join(", ")
        )),
    );
    insert_after_phase(steps, Phase::Pre, write);
    let minor = emulated.rsplit('.').next().unwrap_or(emulated);
    let mut verify = vec!["kubectl get --raw /version".to_string()];
    verify.push(format!(
        "grep -H -e {} {}",
        quote(&flag(emulated)),
        components
            .iter()
            .map(|c| manifest(c))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    verify.push("kubectl get --raw /metrics | grep -E '^(kubernetes_)?version_info'".into());
    let check = format!(
        "/version shows emulationMinor \"{minor}\" (gitVersion stays the new binary); on every control plane grep prints {} for each of the {} manifests; version_info shows emulation=\"{emulated}\"",
        flag(emulated),
        components.len()
    );
    insert_after_phase(
        steps,
        Phase::Post,
        step(
            "post.emulation",
            format!("Confirm the control plane emulates {emulated}"),
            &super::refs(&verify),
            Some(&check),
        ),
    );
}

/// Put `s` after the last step of `phase` (or before the first later one).
fn insert_after_phase(steps: &mut Vec<Step>, phase: Phase, s: Step) {
    let at = steps
        .iter()
        .position(|x| x.phase > phase)
        .unwrap_or(steps.len());
    steps.insert(at, s);
}

/// What step 2's runbook is built from.
pub struct Step2Input<'a> {
    /// The catalog (the removed-API check).
    pub catalog: &'a Catalog,
    /// The version the cluster's binaries run (step 1's target).
    pub version: Version,
    /// The minor the control plane emulates until step 2.
    pub emulated: String,
    /// The components that carry the flag.
    pub components: Vec<String>,
    /// The etcd members, for the restore.
    pub etcd: Option<EtcdCluster>,
}

/// Step 2's runbook: check, back up, lift the emulation component by component, verify;
/// its back-out puts the flag back, with the etcd restore and step 1's back-out behind it.
pub fn step2(input: &Step2Input<'_>) -> super::Checklist {
    let to = input.version;
    let c = Ctx {
        minor_hop: true,
        snapshot: quote(&format!("/var/lib/airlock/etcd-before-{to}-step2.db")),
        conf_backup: quote(&format!(
            "/var/lib/airlock/etc-kubernetes-before-{to}-step2"
        )),
    };
    let mut s = Out {
        steps: Vec::new(),
        left_out: Vec::new(),
    };
    let hop = ChecklistInput {
        catalog: input.catalog,
        from: to,
        to,
        backout: false,
        tools: Vec::new(),
        addon_manifests: Vec::new(),
        addon_charts: Vec::new(),
        worker_batch: 1,
        packages: Vec::new(),
        etcd: input.etcd.clone(),
    };
    step2_pre(input, &hop, &c, &mut s);
    lift(input, "cp1", "First control plane", &mut s);
    lift(
        input,
        "cp",
        "Each other control plane, one at a time",
        &mut s,
    );
    step2_post(input, &mut s);
    step2_backout(input, &hop, &c, &mut s);
    super::Checklist {
        steps: s.steps,
        left_out: s.left_out,
    }
}

fn step2_pre(input: &Step2Input<'_>, hop: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
    let to = input.version;
    let minor = input.emulated.rsplit('.').next().unwrap_or(&input.emulated);
    s.push(step(
        "pre.version",
        format!(
            "Confirm the cluster runs {to} emulating {} (step 1 done)",
            input.emulated
        ),
        &["kubectl get --raw /version", "kubectl get nodes -o wide"],
        Some(&format!(
            "gitVersion is {to} and emulationMinor is \"{minor}\"; every control plane's kubelet is {to}"
        )),
    ));
    // The APIs the target minor removes stop being served in this step, not in step 1.
    s.push(removed_apis_step(input.catalog, &to, true));
    s.push(snapshot_step(hop, &c.snapshot));
    s.push(config_backup_step(&c.conf_backup));
}

/// Lift the emulation on one node (or each other one): a component at a time, waiting
/// for its static pod before the next.
fn lift(input: &Step2Input<'_>, phase: &str, who: &str, s: &mut Out) {
    let del = format!("/{}/d", regex_escape(&flag(&input.emulated)));
    for comp in &input.components {
        let pod = format!("{comp}-${{NODE}}");
        s.push(step(
            &format!("{phase}.{comp}"),
            format!(
                "{who}: restart {comp} without {}",
                flag(&input.emulated)
            ),
            &super::refs(&[
                format!("sed -i {} {}", quote(&del), manifest(comp)),
                format!(
                    "kubectl -n kube-system wait --for=condition=Ready pod/\"{pod}\" --timeout=5m"
                ),
                format!(
                    "ps -C {} -o args= | grep -c -e {} || true",
                    quote(comp),
                    quote(&flag(&input.emulated))
                ),
            ]),
            Some(&format!(
                "the pod {} is Ready and grep counts 0 processes with the flag; if not, stop and run backout.emulation",
                comment(&pod)
            )),
        ));
    }
}

/// `sed` basic-regex escaping of a literal (`.` is the only special character a flag
/// of this form can hold, but escape them all).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for ch in s.chars() {
        if matches!(ch, '.' | '[' | ']' | '*' | '^' | '$' | '\\' | '/') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn step2_post(input: &Step2Input<'_>, s: &mut Out) {
    let to = input.version;
    s.push(step(
        "post.emulation",
        format!("Confirm the control plane runs {to} behaviour (no emulation)"),
        &[
            "kubectl get --raw /version",
            "kubectl get --raw /metrics | grep -E '^(kubernetes_)?version_info'",
            "kubectl get --raw /metrics | grep -E '^kubernetes_feature_enabled'",
        ],
        Some(&format!(
            "emulationMinor equals minor (\"{}\"); version_info shows emulation equal to binary; kubernetes_feature_enabled shows the {} defaults the step-2 report lists",
            to.minor,
            to.minor_key()
        )),
    ));
    s.push(step(
        "post.pods",
        "Confirm workloads recovered",
        &[
            "kubectl get pods -A --field-selector=status.phase!=Running,status.phase!=Succeeded",
            "kubectl -n kube-system get pods -o wide",
        ],
        Some("no pod is Pending, CrashLoopBackOff or Failed that was healthy before step 2"),
    ));
}

fn step2_backout(input: &Step2Input<'_>, hop: &ChecklistInput<'_>, c: &Ctx, s: &mut Out) {
    let back = &c.conf_backup;
    let mut cmds = Vec::new();
    for comp in &input.components {
        cmds.push(format!(
            "cp -a {back}/manifests/{} {}",
            quote(&format!("{comp}.yaml")),
            manifest(comp)
        ));
        cmds.push(format!(
            "kubectl -n kube-system wait --for=condition=Ready pod/\"{comp}-${{NODE}}\" --timeout=5m"
        ));
    }
    cmds.push("kubectl get --raw /version".into());
    s.push(step(
        "backout.emulation",
        format!(
            "Back-out, every control plane, one at a time: put {} back (the manifests copied by pre.config-backup), a component at a time",
            flag(&input.emulated)
        ),
        &super::refs(&cmds),
        Some(&format!(
            "emulationMinor is \"{}\" again. Objects written under {} behaviour are not proven safe under {}: if the API server or workloads misbehave, restore the etcd snapshot (backout.stop, backout.etcd-restore), and failing that back out to {} with step 1's back-out steps",
            input.emulated.rsplit('.').next().unwrap_or(&input.emulated),
            input.version.minor_key(),
            input.emulated,
            input.emulated
        )),
    ));
    s.push(step(
        "backout.stop",
        "Back-out by restore, every control plane: stop the control plane",
        &[
            "systemctl stop kubelet",
            "mv /etc/kubernetes/manifests /etc/kubernetes/manifests.failed",
        ],
        Some("crictl ps shows no kube-apiserver or etcd container"),
    ));
    etcd_restore(hop, c, s);
    s.push(step(
        "backout.verify",
        format!(
            "Back-out: confirm the cluster runs {} emulating {}",
            input.version, input.emulated
        ),
        &["systemctl start kubelet", "kubectl get --raw /version"],
        Some(&format!(
            "emulationMinor is \"{}\"",
            input.emulated.rsplit('.').next().unwrap_or(&input.emulated)
        )),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::{ChecklistInput, build, phase_of};
    use super::*;
    use crate::catalog::two_step::{EMULATING_COMPONENTS, offer};

    /// The structural rules every hop runbook keeps: ids unique and in the phase their
    /// prefix names, phases in order, every step something to run, every command one
    /// line.
    fn structural(steps: &[Step]) {
        let mut ids = std::collections::BTreeSet::new();
        let mut last = Phase::Pre;
        for s in steps {
            assert!(ids.insert(s.id.as_str()), "{} twice", s.id);
            assert_eq!(s.phase, phase_of(&s.id), "{}", s.id);
            assert!(s.phase >= last, "{} out of phase order", s.id);
            last = s.phase;
            assert!(!s.commands.is_empty(), "{} has no command", s.id);
            assert!(s.commands.iter().all(|c| !c.contains('\n')), "{}", s.id);
        }
    }

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn step1_sets_the_flag_on_exactly_the_three_components() {
        let cat = Catalog::builtin().unwrap();
        let (from, to) = (v("v1.36.4"), v("v1.37.1"));
        let o = offer(&cat, &from, &to).unwrap();
        let hop = build(&ChecklistInput {
            catalog: &cat,
            from,
            to,
            backout: true,
            tools: vec![],
            addon_manifests: vec![],
            addon_charts: vec![],
            worker_batch: 1,
            packages: vec![],
            etcd: None,
        })
        .steps;
        structural(&hop);
        let mut steps = hop.clone();
        emulate_in_step1(&mut steps, &o.emulated, &o.facts.components);
        structural(&steps);
        assert_eq!(steps.len(), hop.len() + 2);
        // The flag appears only in the patch files, one per component, each a JSON patch
        // that appends exactly `--emulated-version=1.36`.
        let mut patched = Vec::new();
        for s in &steps {
            for c in &s.commands {
                if c.contains("--emulated-version") && s.id == "pre.emulation-patches" {
                    let file = c.rsplit(' ').next().unwrap().trim_matches('\'');
                    let name = file.rsplit('/').next().unwrap();
                    patched.push(name.trim_end_matches("+json.json").to_string());
                    let json = c.split('\'').nth(3).unwrap();
                    let p: serde_json::Value = serde_json::from_str(json).unwrap();
                    assert_eq!(p[0]["value"], "--emulated-version=1.36");
                    assert_eq!(p[0]["path"], "/spec/containers/0/command/-");
                }
            }
        }
        assert_eq!(patched, EMULATING_COMPONENTS);
        let get = |id: &str| steps.iter().find(|s| s.id == id).unwrap();
        assert_eq!(
            get("cp1.apply").commands,
            ["kubeadm upgrade apply v1.37.1 --patches /var/lib/airlock/emulation-patches"]
        );
        assert_eq!(
            get("cp.upgrade").commands,
            ["kubeadm upgrade node --patches /var/lib/airlock/emulation-patches"]
        );
        // Workers render no control-plane pod: no patches there.
        assert!(
            get("workers.kubeadm")
                .commands
                .iter()
                .all(|c| !c.contains("--patches"))
        );
        let pos = |id: &str| steps.iter().position(|s| s.id == id).unwrap();
        assert!(pos("pre.emulation-patches") < pos("cp1.kubeadm"));
        assert!(pos("post.etcd") < pos("post.emulation"));
        assert!(pos("post.emulation") < pos("backout.stop"));
    }

    #[test]
    fn step2_lifts_the_flag_one_component_at_a_time_and_brings_nothing() {
        let cat = Catalog::builtin().unwrap();
        let steps = step2(&Step2Input {
            catalog: &cat,
            version: v("v1.37.1"),
            emulated: "1.36".into(),
            components: EMULATING_COMPONENTS.map(String::from).to_vec(),
            etcd: None,
        })
        .steps;
        structural(&steps);
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        for node in ["cp1", "cp"] {
            let lifted: Vec<&str> = ids
                .iter()
                .filter_map(|i| i.strip_prefix(node)?.strip_prefix('.'))
                .collect();
            assert_eq!(lifted, EMULATING_COMPONENTS, "{node}");
        }
        let sed = &steps[ids.iter().position(|i| *i == "cp1.kube-apiserver").unwrap()];
        // As the shell splits it: sed deletes the line holding the literal flag.
        assert_eq!(
            shlex::split(&sed.commands[0]).unwrap(),
            [
                "sed",
                "-i",
                "/--emulated-version=1\\.36/d",
                "/etc/kubernetes/manifests/kube-apiserver.yaml"
            ]
        );
        // Nothing installs a binary or pulls an image.
        for s in &steps {
            for c in &s.commands {
                assert!(
                    !c.contains("install -m") && !c.contains("images pull"),
                    "{}: {c}",
                    s.id
                );
            }
        }
        let removed = &steps[ids.iter().position(|i| *i == "pre.removed-apis").unwrap()];
        assert!(
            removed.title.contains("scheduling.k8s.io/v1alpha2"),
            "{}",
            removed.title
        );
        for id in ["pre.snapshot", "backout.emulation", "backout.etcd-restore"] {
            assert!(ids.contains(&id), "{id} missing: {ids:?}");
        }
        let back = &steps[ids.iter().position(|i| *i == "backout.emulation").unwrap()];
        assert!(
            back.check.as_deref().unwrap().contains("step 1's back-out"),
            "{back:?}"
        );
    }
}
